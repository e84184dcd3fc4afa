"""Every implementation mod_pcm registers, against the spec's table (timers-codecs.md §4).

The expected rows are written from the spec's table and its list of quirks, as rules per
family, independently of ``mod_pcm/implementations.py`` (which follows switch_pcm.c's loops).
"""

from __future__ import annotations

import logging

import pytest

from mod_pcm.implementations import INTERFACE_NAMES, build_interfaces
from softswitch import CodecInterface

Key = tuple[str, int, int, int]  # iana, rate, ptime ms, channels
# value: (ianacode, samples/packet, decoded bytes, encoded bytes, bps, frames/packet, type)
Row = tuple[int, int, int, int, int, int, str]


def spec_rows() -> dict[Key, Row]:
    rows: dict[Key, Row] = {}

    def add(iana, pt, rate, ms, ch, spp, dec, enc, bps, fpp, kind="audio"):
        key = (iana, rate, ms, ch)
        assert key not in rows, key
        rows[key] = (pt, spp, dec, enc, bps, fpp, kind)

    # G.711 ulaw: 8000 mono 10..120; 48000 mono and stereo 10..40; frames/packet = samples
    # (stereo: twice)
    for ms in range(10, 121, 10):
        add("PCMU", 0, 8000, ms, 1, 8 * ms, 16 * ms, 8 * ms, 64000, 8 * ms)
        add("PCMA", 8, 8000, ms, 1, 8 * ms, 16 * ms, 8 * ms, 64000, 8 * ms)
    for ms in (10, 20, 30, 40):
        add("PCMU", 0, 48000, ms, 1, 48 * ms, 96 * ms, 48 * ms, 384000, 48 * ms)
        add("PCMU", 0, 48000, ms, 2, 48 * ms, 192 * ms, 96 * ms, 768000, 96 * ms)
    # PROXY: 8000 Hz 20 ms, mono and stereo; PROXY-VID: video, all zero
    add("PROXY", 0, 8000, 20, 1, 160, 320, 0, 0, 1)
    add("PROXY", 0, 8000, 20, 2, 160, 640, 0, 0, 1)
    add("PROXY-VID", 31, 90000, 0, 1, 0, 0, 0, 0, 1, kind="video")

    # L16, payload 100.
    def l16(rate, ms, spp, mono_bytes, bps_mono, bps_stereo, tenms_quirk=False):
        if tenms_quirk:  # stereo: decoded doubled, encoded and bps not; frames = samples
            add("L16", 100, rate, ms, 1, spp, mono_bytes, mono_bytes, bps_mono, spp)
            add("L16", 100, rate, ms, 2, spp, 2 * mono_bytes, mono_bytes, bps_mono, spp)
        else:
            add("L16", 100, rate, ms, 1, spp, mono_bytes, mono_bytes, bps_mono, 1)
            add("L16", 100, rate, ms, 2, spp, 2 * mono_bytes, 2 * mono_bytes, bps_stereo, 1)

    for rate, top in ((8000, 120), (16000, 60), (32000, 60)):
        for ms in range(10, top + 1, 10):
            spp = rate * ms // 1000
            l16(rate, ms, spp, 2 * spp, 16 * rate, 16 * rate, tenms_quirk=True)
        for ms in (2, 4, 6, 8):
            spp = rate * ms // 1000
            l16(rate, ms, spp, 2 * spp, 16 * rate, 32 * rate)
    for rate, ptimes in ((12000, (20, 40, 60, 80, 100)), (24000, (20, 40, 60)),
                         (48000, (2, 4, 6, 8, 10, 20, 30, 40))):
        for ms in ptimes:
            spp = rate * ms // 1000
            l16(rate, ms, spp, 2 * spp, 16 * rate, 32 * rate)
    for ms in (10, 20, 30):
        l16(44100, ms, 441 * ms // 10, 882 * ms // 10, 705600, 705600)  # stereo keeps 705600
    l16(22050, 20, 441, 882, 352800, 705600)
    l16(11025, 40, 441, 882, 176400, 352800)
    l16(11025, 32, 256, 512, 176400, 352800)  # 256 samples, not 11025 * 0.032
    return rows


@pytest.fixture(scope="module")
def interfaces() -> list[CodecInterface]:
    return build_interfaces()


def registered(ifaces) -> dict[Key, Row]:
    out = {}
    for iface in ifaces:
        for i in iface.implementations:
            key = (i.iananame, i.samples_per_second, i.microseconds_per_packet // 1000,
                   i.number_of_channels)
            assert key not in out, f"{key} registered twice"
            out[key] = (i.ianacode, i.samples_per_packet, i.decoded_bytes_per_packet,
                        i.encoded_bytes_per_packet, i.bits_per_second,
                        i.codec_frames_per_packet, i.codec_type)
    return out


def test_spec_table_has_151_implementations():
    rows = spec_rows()
    assert len(rows) == 151
    assert sum(1 for k in rows if k[0] == "L16") == 116


def test_every_implementation_matches_the_spec(interfaces):
    got, want = registered(interfaces), spec_rows()
    assert sorted(set(got) - set(want)) == []  # registered but not in the spec
    assert sorted(set(want) - set(got)) == []  # in the spec but missing
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert wrong == {}


def test_interfaces_in_freeswitch_order(interfaces):
    assert [i.name for i in interfaces] == list(INTERFACE_NAMES) == [
        "PROXY VIDEO PASS-THROUGH", "PROXY PASS-THROUGH", "RAW Signed Linear (16 bit)",
        "G.711 ulaw", "G.711 alaw"]
    assert [len(i.implementations) for i in interfaces] == [1, 2, 116, 20, 12]
    assert all(i.kind == "codec" for i in interfaces)


def describe(impl) -> str:
    return impl.describe()


def test_implementations_most_recently_added_first(interfaces):
    """switch_core_codec_add_implementation prepends: the lists run backwards."""
    by_name = {i.name: i.implementations for i in interfaces}
    ulaw = [describe(i) for i in by_name["G.711 ulaw"]]
    assert ulaw[:6] == ["PCMU 48000hz 10ms 2ch", "PCMU 48000hz 10ms 1ch", "PCMU 8000hz 10ms 1ch",
                        "PCMU 48000hz 20ms 2ch", "PCMU 48000hz 20ms 1ch", "PCMU 8000hz 20ms 1ch"]
    assert ulaw[-1] == "PCMU 8000hz 120ms 1ch"
    alaw = [describe(i) for i in by_name["G.711 alaw"]]
    assert alaw == [f"PCMA 8000hz {ms}ms 1ch" for ms in range(10, 121, 10)]
    l16 = [describe(i) for i in by_name["RAW Signed Linear (16 bit)"]]
    assert l16[:6] == ["L16 11025hz 32ms 2ch", "L16 11025hz 32ms 1ch", "L16 11025hz 40ms 2ch",
                       "L16 11025hz 40ms 1ch", "L16 22050hz 20ms 2ch", "L16 22050hz 20ms 1ch"]
    assert l16[-2:] == ["L16 8000hz 120ms 2ch", "L16 8000hz 120ms 1ch"]
    proxy = [describe(i) for i in by_name["PROXY PASS-THROUGH"]]
    assert proxy == ["PROXY 8000hz 20ms 2ch", "PROXY 8000hz 20ms 1ch"]


def test_registration_filter_keeps_everything(interfaces, caplog):
    """All 151 pass FreeSWITCH's filter (ptime per rate, 8192-byte packets): no CRIT line."""
    ifaces = build_interfaces()
    with caplog.at_level(logging.CRITICAL):
        assert all(i.validate() for i in ifaces)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.CRITICAL] == []
    assert sum(len(i.implementations) for i in ifaces) == 151


def test_sizes_are_consistent(interfaces):
    """Cross-checks that hold for every family (quirks aside)."""
    for iface in interfaces:
        for i in iface.implementations:
            assert i.actual_samples_per_second == i.samples_per_second
            assert i.fmtp is None
            if i.iananame in ("PCMU", "PCMA", "L16"):
                assert i.decoded_bytes_per_packet == 2 * i.samples_per_packet * i.number_of_channels
            if i.iananame in ("PCMU", "PCMA"):
                assert i.encoded_bytes_per_packet * 2 == i.decoded_bytes_per_packet
                assert i.encode is not None and i.decode is not None


def test_builds_fresh_objects_each_time(interfaces):
    again = build_interfaces()
    assert all(a is not b for a, b in zip(interfaces, again, strict=True))
