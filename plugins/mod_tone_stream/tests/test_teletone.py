"""TGML generation against libteletone's own output, and the stream handles."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess

import pytest

from mod_tone_stream.stream import ToneCache, open_tone_stream, parse_path
from mod_tone_stream.teletone import MAX_SAMPLES, generate

# sha256 prefixes and sizes of the raw samples libteletone (FreeSWITCH cc93a683,
# libs/libteletone/src/libteletone_generate.c, built with gcc) writes for these specs
GOLDEN = [
    ("%(1000,0,440)", 8000, "2132033e285dec80", 16000),
    ("%(1000,0,440)", 16000, "ec66cfb11d0337d2", 32000),
    ("%(200,100,350,440)", 8000, "f84506d11b1bd809", 4800),
    ("%(200,100,350,440)", 16000, "cf088621e10ec59e", 9600),
    ("v=0;%(100,50,480,620,700)", 8000, "02373a60e53986ee", 2400),
    ("v=0;%(100,50,480,620,700)", 16000, "82dc368be441ba32", 4800),
    ("123#*", 8000, "7d08fb1ee273a80d", 25000),
    ("123#*", 16000, "e43cbf63f0de5859", 25000),
    (">=5;+=2;%(300,0,440)", 8000, "a2a9862363b93065", 4800),
    (">=5;+=2;%(300,0,440)", 16000, "c4e116dd5d807cd3", 9600),
    ("l=3;%(100,100,440);%(50,0,300)", 8000, "c4334bde4d9edb66", 10400),
    ("l=3;%(100,100,440);%(50,0,300)", 16000, "ccdbc31ab1634a99", 20800),
    ("L=2;%(100,20,440);v=-10;%(30,0,500)", 8000, "3259e42017d0a0c8", 4800),
    ("L=2;%(100,20,440);v=-10;%(30,0,500)", 16000, "37f89613ebdc1629", 9600),
    ("%(10,0,440", 8000, "b7cb188064bf01a0", 10160),
    ("%(10,0,440", 16000, "8561f98acfe75e89", 10320),
]


@pytest.mark.parametrize("spec,rate,digest,size", GOLDEN)
def test_same_samples_as_libteletone(spec, rate, digest, size):
    data = generate(spec, rate)
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest()[:16] == digest


def test_against_a_local_libteletone_build_when_there_is_one(tmp_path):
    """Optional wider check: SOFTSWITCH_TGEN=<binary spec out.raw rate> (a 10-line C driver
    over libteletone) compares many more specs; skipped when not set."""
    tgen = os.environ.get("SOFTSWITCH_TGEN")
    if not tgen:
        pytest.skip("SOFTSWITCH_TGEN not set")
    out = tmp_path / "o.raw"
    for spec in ("d=50;w=20;ABCD", "<=3;v=-40;%(200,0,440,480)", "%(100,50,4500)", " 5; %(20,0,9000.5)"):
        subprocess.run([tgen, spec, str(out), "8000"], check=True)
        assert generate(spec) == out.read_bytes(), spec


def test_the_tone_has_the_right_length_and_frequency():
    import array
    import math
    samples = array.array("h", generate("%(1000,0,440)"))
    assert len(samples) == 8000
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a - 128) < 0 <= (b - 128))
    assert abs(crossings - 440) <= 1
    rms = math.sqrt(sum((s - 128) ** 2 for s in samples) / len(samples))
    assert 7000 < rms < 7400  # -7 dBm0 on libteletone's scale


def test_silence_part_and_syntax_errors():
    assert generate("%(0,100,440)") == bytes(1600)          # no tone, 100 ms of silence
    assert generate("%(100,200);%(50,0,440)") == b""         # syntax error abandons the pass
    assert generate("%(100,0,0,440)") == b""                 # a map starting at 0 Hz is ignored
    assert len(generate("1(100,50)")) == 2 * 1200            # DTMF map with its own times


def test_l_minus_one_plays_once_instead_of_hanging(caplog):
    with caplog.at_level(logging.WARNING):
        data = generate("l=-1;%(100,0,440)")
    assert data == generate("%(100,0,440)")
    assert "would repeat forever" in caplog.text


def test_output_is_capped(caplog):
    with caplog.at_level(logging.WARNING):
        data = generate("%(100000000,0,440)")
    assert len(data) == 2 * MAX_SAMPLES
    assert "cut there" in caplog.text


def test_parse_path():
    assert parse_path("%(1000,0,440);loops=-1") == ("%(1000,0,440)", -1)
    assert parse_path("%(1,0,440);LOOPS=3") == ("%(1,0,440)", 3)
    assert parse_path("%(1,0,440)") == ("%(1,0,440)", 0)


def read_all(handle, samples=160, limit=10_000):
    out = []
    for _ in range(limit):
        piece = handle.read(samples)
        if piece is None:
            return out
        out.append(piece)
    return out


def test_stream_plays_once_n_times_or_forever():
    cache = ToneCache()
    once = read_all(open_tone_stream(cache, "%(200,0,440)"))
    assert len(once) == 10 and b"".join(once) == generate("%(200,0,440)")
    assert len(read_all(open_tone_stream(cache, "%(200,0,440);loops=1"))) == 10
    assert len(read_all(open_tone_stream(cache, "%(200,0,440);loops=3"))) == 30
    assert len(read_all(open_tone_stream(cache, "%(200,0,440);loops=-1"), limit=500)) == 500
    assert cache.misses == 1 and cache.hits == 3  # generated once, shared by every handle


def test_stream_short_last_piece_and_frame_size_change():
    cache = ToneCache()
    h = open_tone_stream(cache, "%(25,0,440);loops=2")  # 200 samples: 160 + 40, twice
    sizes = [len(p) for p in read_all(h)]
    assert sizes == [320, 80, 320, 80]
    h = open_tone_stream(cache, "%(100,0,440)")
    a = h.read(160)
    b = h.read(100)
    c = h.read(160)
    assert a + b + c == generate("%(100,0,440)")[:840]
    assert h.samples_read == 420


def test_stream_of_nothing_ends_at_once():
    assert open_tone_stream(ToneCache(), "%(100,200);loops=-1").read(160) is None


def test_cache_evicts_least_recently_used():
    cache = ToneCache(max_bytes=40000)
    for f in (400, 500, 600):
        open_tone_stream(cache, f"%(1000,0,{f})")  # 16000 bytes each
    assert len(cache) == 2


def test_path_file(tmp_path):
    p = tmp_path / "tones.txt"
    p.write_text("v=-10\n%(100,0,440)\n")
    h = open_tone_stream(ToneCache(), f"path={p}")
    assert b"".join(read_all(h)) == generate("v=-10;%(100,0,440)")
    with pytest.raises(OSError, match="cannot read"):
        open_tone_stream(ToneCache(), f"path={tmp_path}/nosuch")



def test_a_long_spec_is_generated_in_slices():
    from mod_tone_stream.teletone import CHUNK
    calls = []
    data = generate("%(3000,0,440);%(1000,0,350,440)", 8000, pause=lambda: calls.append(1))
    assert data == generate("%(3000,0,440);%(1000,0,350,440)")  # same samples
    assert len(calls) >= (24000 + 8000) // CHUNK - 2


def test_any_text_generates_without_raising(monkeypatch):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import mod_tone_stream.teletone as tt
    monkeypatch.setattr(tt, "MAX_SAMPLES", 16000)

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="%()0123456789,;.-+=vdwlLr<>c #*ABCDx \n", max_size=40))
    def check(spec):
        data = tt.generate(spec)
        assert len(data) % 2 == 0 and len(data) <= 2 * 16000 + 2 * 8000 * 10
    check()
