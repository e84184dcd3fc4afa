"""Benchmark: mod_pcm's G.711 encode/decode against audioop, per 20 ms frame and per 1 s batch.

Run from the repository root with mod_pcm installed (``pip install plugins/mod_pcm``)::

    python bench/codecs.py                 # about 10-30 s
    python bench/codecs.py --quick         # fewer repeats, no alternatives, a few seconds
    python bench/codecs.py --crossover     # also: where the numpy path's decoders cross

Prints one JSON line with every figure, then a short human summary. For PCMU and PCMA, for
encode and decode, for one 20 ms frame (160 samples) and one 1 s batch (8000 samples), it
times:

* ``audioop`` (the stdlib C implementation, the yardstick; not bit-exact with FreeSWITCH),
* ``mod_pcm``: ``mod_pcm.g711.ulaw_encode`` & co, called directly, on whichever
  implementation is active (``g711.IMPLEMENTATION``: ``C`` when the optional extension
  ``mod_pcm._g711`` is built, else ``numpy``; the report says which),
* ``codec``: the same through ``softswitch.Codec.encode/decode`` of an opened codec,
* ``numpy_fallback``: when the C extension is active, mod_pcm's numpy implementation too
  (what an install without a C compiler gets),
* the alternatives the numpy implementation chose between (numpy 256-entry take, with and
  without a preallocated output, the 65,536-entry pair table, the charmap/UTF-16/translate
  string path).

Each candidate is timed ``--repeats`` times in windows of about ``--window`` seconds, the
candidates back to back within each repeat. ``ns_median`` / ``ns_min`` are the median and the
best mean time per call over the repeats. A ``ratio`` is audioop's time divided by the
candidate's *in the same repeat* (adjacent windows, so a burst of load on a shared machine
hits both), the median over the repeats: above 1 means faster than audioop. Targets (issue
#6): 1 s batches at least 1.5x audioop, a single frame at least 0.5x audioop's call rate.
"""

from __future__ import annotations

import argparse
import codecs
import json
import platform
import statistics
import sys
import time
import timeit
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:
        sys.exit("bench/codecs.py needs audioop (Python <= 3.12) as its yardstick")

try:
    import softswitch
    from mod_pcm import g711
    from mod_pcm.implementations import build_interfaces
except ImportError as e:
    sys.exit(f"bench/codecs.py: {e}. Install the kernel and mod_pcm first: "
             "pip install . plugins/mod_pcm")

FRAME_SAMPLES = 160     # 20 ms at 8 kHz
BATCH_SAMPLES = 8000    # 1 s at 8 kHz
TARGET_BATCH = 1.5
TARGET_FRAME = 0.5


def speech_like(n: int, seed: int = 6) -> bytes:
    """Deterministic test signal at speech level (about -20 dBFS RMS), host-order int16.

    Amplitude matters: audioop's encoder searches the segment table, so it is faster on quiet
    signals; full-scale noise would flatter mod_pcm.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 8000.0
    tone = 2500 * np.sin(2 * np.pi * 220 * t) + 1200 * np.sin(2 * np.pi * 1375 * t + 1)
    noise = rng.normal(0, 1800, n)
    return np.clip(tone + noise, -32768, 32767).astype("=i2").tobytes()


def opened_codec(iana: str) -> softswitch.Codec:
    """``<iana>@8000h@20i`` opened without a kernel (the interface mod_pcm would register)."""
    for iface in build_interfaces():
        for impl in iface.implementations:
            if (impl.iananame, impl.samples_per_second, impl.ptime,
                    impl.number_of_channels) == (iana, 8000, 20, 1):
                return softswitch.Codec(iface, impl)
    raise LookupError(iana)


def fallback(law: str) -> dict[str, dict[str, object]]:
    """mod_pcm's numpy implementation, when it is not the active one (else nothing)."""
    if g711.IMPLEMENTATION == "numpy":
        return {"encode": {}, "decode": {}}
    make_encoder, make_decoder = g711._PATHS["numpy"]
    return {"encode": {"numpy_fallback": make_encoder(law)},
            "decode": {"numpy_fallback": make_decoder(law)}}


def alternatives(law: str) -> dict[str, dict[str, object]]:
    """The techniques measured against each other (what mod_pcm.g711's numpy path combines)."""
    enc_table = g711.ULAW_ENCODE if law == "ulaw" else g711.ALAW_ENCODE
    dec_table = g711.ULAW_DECODE if law == "ulaw" else g711.ALAW_DECODE
    pairs = g711._PAIRS[law]
    chars, perm = g711._STRINGS[law]
    u8, u16 = np.dtype(np.uint8), np.dtype("=u2")
    fb = np.frombuffer
    out8 = np.empty(BATCH_SAMPLES, np.uint8)
    out16 = np.empty(BATCH_SAMPLES, g711.LINEAR)
    views8 = {n: out8[:n] for n in (FRAME_SAMPLES, BATCH_SAMPLES)}     # cached views
    views16 = {n: out16[:n] for n in (FRAME_SAMPLES, BATCH_SAMPLES)}
    charmap, utf16 = codecs.charmap_decode, g711._utf16_host

    def enc_fancy(d):
        return enc_table[fb(d, u16)].tobytes()

    def enc_take(d):
        return enc_table.take(fb(d, u16)).tobytes()

    def enc_take_out(d):
        out = views8[len(d) >> 1]
        np.take(enc_table, fb(d, u16), out=out)
        return out.tobytes()

    def dec_take256(d):
        return dec_table.take(fb(d, u8)).tobytes()

    def dec_take256_out(d):
        out = views16[len(d)]
        np.take(dec_table, fb(d, u8), out=out)
        return out.tobytes()

    def dec_pairs(d):
        return pairs.take(fb(d, u16)).tobytes()

    def dec_string(d):
        return utf16(charmap(d, None, chars)[0])[0].translate(perm)

    return {
        "encode": {"numpy_fancy_index": enc_fancy, "numpy_take": enc_take,
                   "numpy_take_preallocated_out": enc_take_out},
        "decode": {"numpy_take_256": dec_take256, "numpy_take_256_preallocated_out": dec_take256_out,
                   "numpy_pair_table": dec_pairs, "charmap_utf16_translate": dec_string},
    }


def per_call(fn, arg, number: int) -> float:
    """Mean seconds per call over ``number`` calls."""
    return timeit.Timer("fn(arg)", globals={"fn": fn, "arg": arg}).timeit(number) / number


def calls_for(fn, arg, window: float) -> int:
    """How many calls make one timing window of about ``window`` seconds."""
    once = min(per_call(fn, arg, 20) for _ in range(3))
    return max(10, int(window / once))


def bench_case(cands: dict[str, object], arg: bytes, repeats: int, window: float) -> dict:
    """Time every candidate ``repeats`` times, back to back within each repeat.

    :returns: per candidate the median and the minimum ns per call, and the median over the
        repeats of audioop's time divided by the candidate's in the same repeat (paired: the two
        windows are adjacent, so a burst of load on the machine hits both).
    """
    numbers = {name: calls_for(fn, arg, window) for name, fn in cands.items()}
    times: dict[str, list[float]] = {name: [] for name in cands}
    for _ in range(repeats):
        for name, fn in cands.items():
            times[name].append(per_call(fn, arg, numbers[name]))
    base = times["audioop"]
    return {
        "ns_median": {k: round(statistics.median(v) * 1e9, 1) for k, v in times.items()},
        "ns_min": {k: round(min(v) * 1e9, 1) for k, v in times.items()},
        "ratio": {k: round(statistics.median(b / t for b, t in zip(base, v, strict=True)), 3)
                  for k, v in times.items() if k != "audioop"},
    }


def run(repeats: int, window: float, with_alternatives: bool) -> dict:
    linear_batch = speech_like(BATCH_SAMPLES)
    linear_frame = linear_batch[: 2 * FRAME_SAMPLES]
    results: dict[str, dict] = {}
    for iana, law in (("PCMU", "ulaw"), ("PCMA", "alaw")):
        enc = getattr(g711, f"{law}_encode")
        dec = getattr(g711, f"{law}_decode")
        ao_enc = getattr(audioop, f"lin2{law}")
        ao_dec = getattr(audioop, f"{law}2lin")
        codec = opened_codec(iana)
        codes_batch = enc(linear_batch)
        codes_frame = codes_batch[:FRAME_SAMPLES]
        # the decoders must agree with audioop (they do: only the encoders differ)
        assert dec(codes_batch) == ao_dec(codes_batch, 2) == codec.decode(codes_batch)
        alts = alternatives(law) if with_alternatives else {"encode": {}, "decode": {}}
        extra = fallback(law)
        for op in ("encode", "decode"):
            extra[op].update(alts[op])
        for fn in extra["decode"].values():
            assert fn(codes_batch) == dec(codes_batch) and fn(codes_frame) == dec(codes_frame)
        for fn in extra["encode"].values():
            assert fn(linear_batch) == enc(linear_batch)
        results[iana] = {}
        for op, ours, theirs, via_codec, data in (
            ("encode", enc, lambda d, f=ao_enc: f(d, 2), codec.encode, (linear_frame, linear_batch)),
            ("decode", dec, lambda d, f=ao_dec: f(d, 2), codec.decode, (codes_frame, codes_batch)),
        ):
            results[iana][op] = {}
            for size, arg in (("frame", data[0]), ("batch", data[1])):
                cands = {"audioop": theirs, "mod_pcm": ours, "codec": via_codec}
                cands.update(extra[op])
                r = bench_case(cands, arg, repeats, window)
                samples = FRAME_SAMPLES if size == "frame" else BATCH_SAMPLES
                r["samples"] = samples
                r["msamples_per_s"] = {k: round(samples / v * 1e3, 1)
                                       for k, v in r["ns_median"].items()}
                results[iana][op][size] = r
    return results


def targets(results: dict) -> dict[str, bool]:
    out = {}
    for iana, ops in results.items():
        for op, sizes in ops.items():
            for size, r in sizes.items():
                need = TARGET_BATCH if size == "batch" else TARGET_FRAME
                out[f"{iana} {op} {size} >= {need}x"] = r["ratio"]["mod_pcm"] >= need
    return out


def crossover(repeats: int) -> dict[str, dict[str, float]]:
    """ns per call of the numpy path's string and pair-table decoders by input size
    (where to put SHORT_DECODE_BYTES)."""
    alts = alternatives("ulaw")["decode"]
    data = bytes(range(256)) * 40
    out = {}
    for n in (160, 240, 320, 360, 400, 480, 640, 960, 1600):
        arg = data[:n]
        r = bench_case({"audioop": lambda d: audioop.ulaw2lin(d, 2),
                        "charmap_utf16_translate": alts["charmap_utf16_translate"],
                        "numpy_pair_table": alts["numpy_pair_table"]}, arg, repeats, 0.002)
        out[str(n)] = r["ns_median"]
    return out


def summary(report: dict) -> str:
    impl = report["implementation"]
    lines = [f"G.711 vs audioop, {report['python']}, numpy {report['numpy']}, mod_pcm on its "
             f"{impl} implementation, median of {report['repeats']} repeats "
             f"({report['seconds']:.0f} s). ratio = audioop time / ours (>1: faster)"]
    fallback_cols = impl != "numpy"
    lines.append(f"{'':14}{'audioop':>10}{'mod_pcm':>10}{'ratio':>8}{'Codec':>10}{'ratio':>8}"
                 + (f"{'numpy':>10}{'ratio':>8}" if fallback_cols else "") + "  target")
    for iana, ops in report["results"].items():
        for op, sizes in ops.items():
            for size, r in sizes.items():
                ns, ratio = r["ns_median"], r["ratio"]
                need = TARGET_BATCH if size == "batch" else TARGET_FRAME
                ok = "met" if ratio["mod_pcm"] >= need else "MISSED"
                unit = "1s" if size == "batch" else "20ms"
                fb = (f"{ns['numpy_fallback'] / 1e3:8.2f}us{ratio['numpy_fallback']:7.2f}x"
                      if fallback_cols else "")
                lines.append(f"{iana} {op:6} {unit:4} {ns['audioop'] / 1e3:8.2f}us"
                             f"{ns['mod_pcm'] / 1e3:8.2f}us{ratio['mod_pcm']:7.2f}x"
                             f"{ns['codec'] / 1e3:8.2f}us{ratio['codec']:7.2f}x{fb}"
                             f"  >={need}x {ok}")
                alts = {k: v for k, v in ratio.items()
                        if k not in ("mod_pcm", "codec", "numpy_fallback")}
                if alts:
                    lines.append(f"{'':19}alternatives: " + ", ".join(
                        f"{k} {v:.2f}x" for k, v in sorted(alts.items(), key=lambda kv: -kv[1])))
    if fallback_cols:
        lines.append("numpy: mod_pcm's fallback implementation (installs without a C compiler)")
    if "crossover" in report:
        lines.append("numpy decoder crossover (ns/call): " + "; ".join(
            f"{n}B string {v['charmap_utf16_translate']:.0f} pairs {v['numpy_pair_table']:.0f}"
            for n, v in report["crossover"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="repeats per figure (median)")
    ap.add_argument("--window", type=float, default=0.01,
                    help="seconds per timing window (calls per window are calibrated)")
    ap.add_argument("--quick", action="store_true", help="5 repeats, no alternatives")
    ap.add_argument("--no-alternatives", action="store_true",
                    help="time only audioop, mod_pcm, Codec and the numpy fallback")
    ap.add_argument("--crossover", action="store_true",
                    help="also time the numpy path's two decoders over inputs of 160..1600 bytes")
    args = ap.parse_args(argv)
    repeats = 5 if args.quick else max(1, args.repeats)
    t0 = time.monotonic()
    results = run(repeats, args.window, with_alternatives=not (args.quick or args.no_alternatives))
    report = {
        "bench": "codecs",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "implementation": g711.IMPLEMENTATION,
        "repeats": repeats,
        "window_s": args.window,
        "short_decode_bytes": g711.SHORT_DECODE_BYTES,
        "results": results,
        "targets": targets(results),
    }
    if args.crossover:
        report["crossover"] = crossover(repeats)
    report["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(report, sort_keys=False))
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
