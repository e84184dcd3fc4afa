"""The null endpoint's near-silence: FreeSWITCH's ``switch_generate_sln_silence`` bit for bit."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_loopback.noise import DIVISOR, NoiseSource, sln_silence, to_bytes

# The C function from FreeSWITCH's src/switch_resample.c, with the clock-and-address seed
# replaced by an argument, and a main() that prints the samples.
C_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
static void gen(int16_t *data, uint32_t samples, uint32_t channels, uint32_t divisor, int16_t rnd2)
{
    int16_t s; uint32_t x, i, j; int sum_rnd = 0;
    if (channels == 0) channels = 1;
    for (i = 0; i < samples; i++, sum_rnd = 0) {
        for (x = 0; x < 6; x++) { rnd2 = rnd2 * 31821U + 13849U; sum_rnd += rnd2; }
        s = (int16_t) ((int16_t) sum_rnd / (int) divisor);
        for (j = 0; j < channels; j++) { *data = s; data++; }
    }
}
int main(int argc, char **argv)
{
    uint32_t samples = atoi(argv[1]), channels = atoi(argv[2]), divisor = atoi(argv[3]);
    int16_t seed = (int16_t) atoi(argv[4]);
    int16_t *buf = calloc(samples * (channels ? channels : 1), 2);
    gen(buf, samples, channels, divisor, seed);
    for (uint32_t k = 0; k < samples * (channels ? channels : 1); k++) printf("%d\n", buf[k]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build FreeSWITCH's generator for the differential test")
    d = tmp_path_factory.mktemp("sln")
    (d / "sln.c").write_text(C_SOURCE)
    subprocess.run([cc, "-O0", "-o", str(d / "sln"), str(d / "sln.c")], check=True)

    def run(samples: int, channels: int, divisor: int, seed: int) -> list[int]:
        out = subprocess.run([str(d / "sln"), str(samples), str(channels), str(divisor), str(seed)],
                             check=True, capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]
    return run


def test_values_are_near_silence_not_zeros():
    values = sln_silence(160, seed=1234)
    assert len(values) == 160
    assert all(-3 <= v <= 3 for v in values)
    assert any(v != 0 for v in values)


@pytest.mark.parametrize("seed", [0, 1, -1, 32767, -32768, 12345])
def test_matches_freeswitch_c(reference, seed):
    assert sln_silence(320, 1, DIVISOR, seed) == reference(320, 1, DIVISOR, seed)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(-(2 ** 40), 2 ** 40), samples=st.integers(1, 200),
       channels=st.integers(1, 3), divisor=st.sampled_from([1, 7, 100, 10000, 32767]))
def test_matches_freeswitch_c_any_input(reference, seed, samples, channels, divisor):
    # the C seed is the int16 truncation of the same int: pass the truncated value to C
    c_seed = ((seed + 0x8000) & 0xFFFF) - 0x8000
    assert sln_silence(samples, channels, divisor, seed) == reference(samples, channels, divisor, c_seed)


def test_channels_repeat_each_sample():
    mono = sln_silence(50, 1, seed=9)
    stereo = sln_silence(50, 2, seed=9)
    assert stereo[0::2] == mono and stereo[1::2] == mono


def test_divisor_minus_one_is_digital_zero_and_zero_is_refused():
    assert sln_silence(10, divisor=-1) == [0] * 10
    with pytest.raises(ValueError, match="divisor"):
        sln_silence(10, divisor=0)


def test_noise_source_frames_wrap_and_keep_length():
    src = NoiseSource(samples=400, seed=7)
    whole = to_bytes(sln_silence(400, seed=7))
    frame, nxt = src.frame(0, 320)
    assert frame == whole[:320] and nxt == 320
    frame, nxt = src.frame(640, 320)  # wraps around the 800-byte buffer
    assert frame == whole[640:] + whole[:160] and nxt == 160
    big, nxt = src.frame(100, 2000)  # larger than the buffer (a 48 kHz frame of a short buffer)
    assert len(big) == 2000 and big[:700] == whole[100:] and nxt == (100 + 2000) % 800
