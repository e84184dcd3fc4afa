"""TGML, the Tone Generation Markup Language of libteletone, and its generator.

A port of ``libteletone_generate.c`` (``teletone_run`` / ``teletone_mux_tones`` and the DDS
oscillator of ``libteletone_generate.h``), sample for sample: the same 128-entry quarter sine
table, 32-bit phase accumulator, dBm0 level scaling and integer mixing, so a tone here has the
same samples as FreeSWITCH's.

Syntax, segments separated by ``;``:

* ``%(on_ms,off_ms,freq[,freq2…])`` a tone of up to 18 frequencies mixed, then ``off_ms`` of
  silence; ``X(on,off)`` plays the DTMF map of character ``X`` with those times; a bare
  character (``1``, ``#``, ``A``) plays its DTMF map with the current duration and wait.
* ``v=<dB>`` volume (-63…0, default -7), ``d=<ms>`` default duration, ``w=<ms>`` default
  wait, ``>=<ms>`` / ``<=<ms>`` volume decay / rise step, ``+=<dB>`` decay factor,
  ``l=<n>`` play the next tone n times, ``L=<n>`` play the whole spec n times (first ``L=``
  only), ``r=<rate>`` sample rate, ``c=<n>`` channels.

Deliberate differences (foot-guns nobody depends on), each said where it happens:
``l=-1`` would loop forever inside FreeSWITCH's generator (the process hangs): it plays once;
the generated audio is capped at :data:`MAX_SAMPLES` so a typo cannot eat the memory.
"""

from __future__ import annotations

import logging
import math
import struct
from array import array

log = logging.getLogger(__name__)

__all__ = ["generate", "ToneGenerator", "TELETONE_SINES", "MAX_SAMPLES", "MAX_TONES"]

TELETONE_SINES = (
    0x00c9, 0x025b, 0x03ed, 0x057f, 0x0711, 0x08a2, 0x0a33, 0x0bc4,
    0x0d54, 0x0ee4, 0x1073, 0x1201, 0x138f, 0x151c, 0x16a8, 0x1833,
    0x19be, 0x1b47, 0x1cd0, 0x1e57, 0x1fdd, 0x2162, 0x22e5, 0x2467,
    0x25e8, 0x2768, 0x28e5, 0x2a62, 0x2bdc, 0x2d55, 0x2ecc, 0x3042,
    0x31b5, 0x3327, 0x3497, 0x3604, 0x3770, 0x38d9, 0x3a40, 0x3ba5,
    0x3d08, 0x3e68, 0x3fc6, 0x4121, 0x427a, 0x43d1, 0x4524, 0x4675,
    0x47c4, 0x490f, 0x4a58, 0x4b9e, 0x4ce1, 0x4e21, 0x4f5e, 0x5098,
    0x51cf, 0x5303, 0x5433, 0x5560, 0x568a, 0x57b1, 0x58d4, 0x59f4,
    0x5b10, 0x5c29, 0x5d3e, 0x5e50, 0x5f5e, 0x6068, 0x616f, 0x6272,
    0x6371, 0x646c, 0x6564, 0x6657, 0x6747, 0x6832, 0x691a, 0x69fd,
    0x6add, 0x6bb8, 0x6c8f, 0x6d62, 0x6e31, 0x6efb, 0x6fc2, 0x7083,
    0x7141, 0x71fa, 0x72af, 0x735f, 0x740b, 0x74b3, 0x7556, 0x75f4,
    0x768e, 0x7723, 0x77b4, 0x7840, 0x78c8, 0x794a, 0x79c9, 0x7a42,
    0x7ab7, 0x7b27, 0x7b92, 0x7bf9, 0x7c5a, 0x7cb7, 0x7d0f, 0x7d63,
    0x7db1, 0x7dfb, 0x7e3f, 0x7e7f, 0x7eba, 0x7ef0, 0x7f22, 0x7f4e,
    0x7f75, 0x7f98, 0x7fb5, 0x7fce, 0x7fe2, 0x7ff1, 0x7ffa, 0x7fff,
)

#: one full sine period (512 phase steps of the accumulator's top 9 bits), built from the
#: quarter table exactly as ``teletone_dds_state_modulate_sample`` reads it
_FULL_SINE = tuple(
    (-1 if (b & 256) else 1) * TELETONE_SINES[(127 - (b & 127)) if (b & 128) else (b & 127)]
    for b in range(512)
)

MAX_TONES = 18
TONE_RANGE = 127
VOL_DB_MAX = 0.0
VOL_DB_MIN = -63.0
DBM0_MAX_POWER = 3.14 + 3.02
#: cap on the samples one spec may generate (10 minutes at 8 kHz; 9.6 MB)
MAX_SAMPLES = 8000 * 600
#: samples generated between two calls of the generator's ``pause`` (~1-5 ms of CPU)
CHUNK = 8192

_DTMF = {
    "1": (697.0, 1209.0), "2": (697.0, 1336.0), "3": (697.0, 1477.0), "A": (697.0, 1633.0),
    "4": (770.0, 1209.0), "5": (770.0, 1336.0), "6": (770.0, 1477.0), "B": (770.0, 1633.0),
    "7": (859.0, 1209.0), "8": (859.0, 1336.0), "9": (859.0, 1477.0), "C": (859.0, 1633.0),
    "*": (941.0, 1209.0), "0": (941.0, 1336.0), "#": (941.0, 1477.0), "D": (941.0, 1633.0),
}


def _f32(x: float) -> float:
    """Round to C ``float`` (libteletone keeps volumes and levels in single precision)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _scale_factor(tx_level: float) -> int:
    """``teletone_dds_state_set_tx_level``: the amplitude for a level in dBm0."""
    level = _f32(math.pow(10.0, _f32(_f32(tx_level - _f32(DBM0_MAX_POWER)) / 20.0)))
    return int(_f32(level * _f32(32767.0 * 1.414214)))


def _phase_rate(freq: float, rate: int) -> int:
    """``teletone_dds_phase_rate``: a C double → int32 conversion, then stored unsigned."""
    v = (freq * 65536.0 * 65536.0) / rate
    if not (-2147483648.0 < v < 2147483648.0):
        v = -2147483648  # what x86 gives for an out-of-range conversion (C leaves it undefined)
    return int(v) & 0xFFFFFFFF


def _atoi(s: str) -> int:
    s = s.lstrip(" \t\n\r\f\v")
    n = 0
    while n < len(s) and (s[n].isdigit() or (n == 0 and s[n] in "+-")):
        n += 1
    try:
        return int(s[:n])
    except ValueError:
        return 0


def _atof(s: str) -> float:
    s = s.lstrip(" \t\n\r\f\v")
    best = 0.0
    for n in range(len(s), 0, -1):
        try:
            best = float(s[:n])
            if s[:n].strip().lower() in ("inf", "nan", "infinity") or "_" in s[:n]:
                best = 0.0
                continue
            return best
        except ValueError:
            continue
    return best


class ToneGenerator:
    """One ``teletone_generation_session_t``: settings plus the samples generated so far."""

    def __init__(self, rate: int = 8000, pause=None) -> None:
        """:param pause: called between chunks of :data:`CHUNK` samples while generating (a
            long spec must not hold the gevent hub: the module passes ``gevent.sleep``)."""
        self.pause = pause
        self.rate = rate
        self.channels = 1
        self.duration = 2000
        self.wait = 500
        self.tmp_duration = -1
        self.tmp_wait = -1
        self.loops = 0
        self.LOOPS = 0
        self.decay_factor = 1.0
        self.decay_direction = 0
        self.decay_step = 0
        self.volume = -7.0
        self.out = array("h")
        self.truncated = False
        self._looping = False  # an L= was honoured: later ones are ignored

    # -- teletone_mux_tones ------------------------------------------------------------------
    def mux(self, freqs: list[float]) -> None:
        duration = self.tmp_duration if self.tmp_duration > -1 else self.duration
        wait = self.tmp_wait if self.tmp_wait > -1 else self.wait
        room = MAX_SAMPLES - len(self.out)
        out = self.out
        if freqs and freqs[0] > 0:
            n = min(duration, room) if duration > 0 else 0
            if n > 0:
                out.extend(self._tone(freqs, n))
            room -= max(n, 0)
            if duration > n:
                self.truncated = True
        if wait > 0:
            k = min(wait, max(room, 0))
            if k:
                out.frombytes(bytes(2 * k))
            if wait > k:
                self.truncated = True

    def _tone(self, freqs: list[float], n: int) -> array:
        vol = _f32(self.volume)
        rates = [_phase_rate(f, self.rate) for f in freqs]
        scale = _scale_factor(vol)
        count = len(freqs)
        sine = _FULL_SINE
        out = array("h", bytes(2 * n))
        pause = self.pause
        if count == 1 and not self.decay_direction:
            # the common case, one oscillator at a fixed level: the same arithmetic, unrolled
            rate0 = rates[0]
            acc = 0
            for start in range(0, n, CHUNK):
                for i in range(start, min(n, start + CHUNK)):
                    s = (sine[acc >> 23] * scale) >> 15
                    s = ((s + 32768) & 0xFFFF) - 32768
                    out[i] = 128 + s
                    acc = (acc + rate0) & 0xFFFFFFFF
                if pause is not None and start + CHUNK < n:
                    pause()
            return out
        accs = [0] * count
        scales = [scale] * count
        dc = 0
        direction = self.decay_direction
        step = self.decay_step
        factor = _f32(self.decay_factor)
        for i in range(n):
            if pause is not None and i and not i % CHUNK:
                pause()
            if direction:
                dc += 1
                if dc >= step:
                    nvol = _f32(vol + direction * factor)
                    if VOL_DB_MIN <= nvol <= VOL_DB_MAX:
                        vol = nvol
                        scales = [_scale_factor(vol)] * count
                        dc = 0
            sample = 128
            for j in range(count):
                a = accs[j]
                s = (sine[a >> 23] * scales[j]) >> 15
                sample += ((s + 32768) & 0xFFFF) - 32768
                accs[j] = (a + rates[j]) & 0xFFFFFFFF
            # C integer division truncates toward zero
            q = abs(sample) // count
            out[i] = q if sample >= 0 else -q
        return out

    def _play(self, freqs: list[float]) -> None:
        while True:
            self.mux(freqs)
            if self.loops > 0:
                self.loops -= 1
            if self.loops == 0:
                break
            if self.loops < 0:
                # FreeSWITCH: `l=-1` never ends (the generator spins forever); play it once
                log.warning("tone_stream: l=%d would repeat forever; playing the tone once", self.loops)
                self.loops = 0
                break
            if len(self.out) >= MAX_SAMPLES:
                self.loops = 0
                break

    # -- teletone_run --------------------------------------------------------------------------
    def run(self, cmd: str) -> None:
        while True:
            self._run_once(cmd)
            if self.LOOPS > 0:
                self.LOOPS -= 1
            if not self.LOOPS or len(self.out) >= MAX_SAMPLES:
                break

    def _run_once(self, cmd: str) -> None:
        for segment in _segments(cmd):
            if len(segment) > 1 and segment[1] == "=":
                self._setting(segment[0], segment[2:])
                continue
            if not self._tones(segment):
                return  # syntax error: FreeSWITCH abandons the rest of this pass

    def _setting(self, key: str, value: str) -> None:
        per_ms = self.rate // 1000
        if key == "c":
            self.channels = _atoi(value)
        elif key == "r":
            r = _atoi(value)
            if r >= 1000:
                self.rate = r
            else:
                log.warning("tone_stream: ignoring rate r=%s (below 1000 Hz)", value)
        elif key == "d":
            self.duration = _atoi(value) * per_ms
        elif key == "v":
            vol = _f32(_atof(value))
            if VOL_DB_MIN <= vol <= VOL_DB_MAX:
                self.volume = vol
        elif key == ">":
            self.decay_step = _atoi(value) * per_ms
            self.decay_direction = -1
        elif key == "<":
            self.decay_step = _atoi(value) * per_ms
            self.decay_direction = 1
        elif key == "+":
            self.decay_factor = _f32(_atof(value))
        elif key == "w":
            self.wait = _atoi(value) * per_ms
        elif key == "l":
            self.loops = _atoi(value)
        elif key == "L":
            if not self._looping:
                n = _atoi(value)
                if n > 0:
                    self.LOOPS = n
                    self._looping = True

    def _tones(self, seg: str) -> bool:
        """The characters of one non-setting segment; False on a syntax error."""
        i = 0
        n = len(seg)
        while i < n:
            ch = seg[i]
            if ch in " \r\n":
                i += 1
                continue
            self.tmp_duration = -1
            self.tmp_wait = -1
            freqs: list[float] | None = None
            nxt = i + 1
            if i + 1 < n and seg[i + 1] == "(":
                close = seg.find(")", i + 2)
                if close >= 0:
                    body = seg[i + 2:close]
                    nxt = close + 1
                else:
                    # no ')': FreeSWITCH cut the segment at each ',' it parsed (writing NULs
                    # over them) and then resumes right after the tone character
                    body = seg[i + 2:]
                    comma = body.find(",")
                    seg = seg[:i + 2 + comma] if comma >= 0 else seg
                    n = len(seg)
                parts = body.split(",")
                per_ms = self.rate // 1000
                args = 0
                custom: list[float] = []
                for k, p in enumerate(parts):
                    if k == 0:
                        self.tmp_duration = _atoi(p) * per_ms
                    elif k == 1:
                        self.tmp_wait = _atoi(p) * per_ms
                    else:
                        custom.append(_atof(p))
                    args = k + 1
                    if args - 2 >= MAX_TONES:
                        break
                if args > 2 and ch == "%":
                    freqs = custom
                elif args != 2 or ch == "%":
                    return False
            if freqs is None:
                mapped = _DTMF.get(ch) if 0 < ord(ch) < TONE_RANGE else None
                freqs = list(mapped) if mapped else []
            # a map whose first frequency is 0 is ignored, as in libteletone
            active: list[float] = []
            for f in freqs:
                if not f:
                    break
                active.append(f)
            if freqs and freqs[0]:
                self._play(active)
            i = nxt
        return True


def _segments(cmd: str) -> list[str]:
    """``;``-separated segments, leading white space of each dropped."""
    out = []
    for seg in cmd.split(";"):
        seg = seg.lstrip(" \r\n")
        if seg:
            out.append(seg)
    return out


def generate(spec: str, rate: int = 8000, pause=None) -> bytes:
    """All the samples of a TGML spec (signed 16-bit, native byte order), generated once.

    :param rate: the sample rate the durations and frequencies refer to.
    :param pause: called every :data:`CHUNK` samples (see :class:`ToneGenerator`).
    """
    gen = ToneGenerator(rate, pause)
    gen.run(spec)
    if gen.truncated:
        log.warning("tone_stream: %r makes more than %d samples; cut there", spec, MAX_SAMPLES)
    return gen.out.tobytes()
