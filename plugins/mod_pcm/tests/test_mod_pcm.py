"""mod_pcm as a module: installed, loaded by an in-process kernel, codecs opened through it."""

from __future__ import annotations

import struct

import importlib_metadata
import pytest

import mod_pcm
import softswitch
from softswitch import CodecError, CodecFlag, Status
from softswitch.codec import find_implementation, list_implementations, parse_codec_string


def linear(*samples: int) -> bytes:
    return struct.pack(f"={len(samples)}h", *samples)


def test_module_is_installed():
    eps = [ep for ep in importlib_metadata.entry_points(group="softswitch.modules")
           if ep.name == "mod_pcm"]
    assert len(eps) == 1
    ep = eps[0]
    assert ep.value == "mod_pcm"
    assert ep.dist is not None and ep.dist.name == "softswitch-mod-pcm"
    assert ep.dist.version == mod_pcm.__version__
    assert ep.load() is mod_pcm


@pytest.fixture
def core(kernel_factory):
    return kernel_factory(modules=["mod_pcm"])


def test_loaded_as_core_module(core):
    mod = core.modules.modules["mod_pcm"]
    assert mod.phase == "core"  # before pre_load_modules.conf, as CORE_PCM_MODULE
    assert [i.name for i in mod.interfaces] == list(mod_pcm.INTERFACE_NAMES)


def test_registry_and_core_db(core):
    names = [i.name for i in core.registry.all("codec")]
    assert names == ["PROXY VIDEO PASS-THROUGH", "PROXY PASS-THROUGH",
                     "RAW Signed Linear (16 bit)", "G.711 ulaw", "G.711 alaw"]
    cols, rows = core.db.query("select type,name,ikey from interfaces where type='codec'")
    assert cols == ["type", "name", "ikey"]
    assert sorted(rows) == sorted(("codec", n, "mod_pcm") for n in names)
    assert len(list_implementations(core.registry)) == 151
    pcmu = [impl.describe() for _, impl in list_implementations(core.registry, "pcmu")]
    assert len(pcmu) == 20 and pcmu[0] == "PCMU 48000hz 10ms 2ch"


@pytest.mark.parametrize(("string", "expected"), [
    ("PCMU", "PCMU 8000hz 20ms 1ch"),              # codec strings default to 8000 Hz, 20 ms
    ("pcma", "PCMA 8000hz 20ms 1ch"),
    ("L16", "L16 8000hz 20ms 1ch"),
    ("PCMU@8000h@20i", "PCMU 8000hz 20ms 1ch"),
    ("PCMU@30i", "PCMU 8000hz 30ms 1ch"),
    ("PCMU@120i", "PCMU 8000hz 120ms 1ch"),
    ("PCMU@48000h", "PCMU 48000hz 20ms 1ch"),
    ("PCMU@48k@40i@2c", "PCMU 48000hz 40ms 2ch"),
    ("L16@16000h@20i@2c", "L16 16000hz 20ms 2ch"),
    ("L16@44100h@10i", "L16 44100hz 10ms 1ch"),
    ("L16@11025h@32i", "L16 11025hz 32ms 1ch"),
    ("L16@11025h", "L16 11025hz 32ms 1ch"),        # no 20 ms at 11025: first one listed
    ("L16@48000h@2i@2c", "L16 48000hz 2ms 2ch"),
    ("PCMU@8000h@20i@64000b", "PCMU 8000hz 20ms 1ch"),
    ("mod_pcm.PCMA", "PCMA 8000hz 20ms 1ch"),
    ("PROXY", "PROXY 8000hz 20ms 1ch"),
    ("PROXY@2c", "PROXY 8000hz 20ms 2ch"),
    ("PROXY-VID", "PROXY-VID 90000hz 0ms 1ch"),
])
def test_codec_open_codec_strings(core, string, expected):
    codec = core.codec_open(string)
    assert isinstance(codec, softswitch.Codec)
    assert codec.implementation.describe() == expected


@pytest.mark.parametrize(("string", "expected"), [
    ("PCMU", "PCMU 48000hz 20ms 1ch"),   # the last 20 ms mono implementation added
    ("L16", "L16 22050hz 20ms 1ch"),
    ("PCMA", "PCMA 8000hz 20ms 1ch"),
    ("PCMU@8000h", "PCMU 8000hz 20ms 1ch"),
])
def test_switch_core_codec_init_semantics(core, string, expected):
    """Rate 0 = any rate, as switch_core_codec_init: why codec strings default to 8000."""
    _, impl = find_implementation(core.registry, parse_codec_string(string), defaults=False)
    assert impl.describe() == expected


def test_encode_decode_frames_and_batches(core):
    pcmu, pcma = core.codec_open("PCMU"), core.codec_open("PCMA")
    frame = linear(*(((i * 997) % 65536) - 32768 for i in range(160)))
    assert len(pcmu.encode(frame)) == 160 == pcmu.implementation.encoded_bytes_per_packet
    assert len(pcmu.decode(pcmu.encode(frame))) == 320
    second = frame * 50
    for codec in (pcmu, pcma):
        codes = codec.encode(second)
        assert codes == codec.encode(frame) * 50
        assert codec.decode(codes) == codec.decode(codec.encode(frame)) * 50
    assert pcmu.encode(linear(0, -1, 100, -100, 32767, -32768)) == b"\xff\x7f\xf2\x72\x80\x00"
    assert pcma.decode(b"\xd5\x55\xaa\x2a") == linear(8, -8, 32256, -32256)


def test_stereo_pcmu(core):
    codec = core.codec_open("PCMU@48000h@20i@2c")
    frame = linear(*([100, -100] * 960))
    assert len(frame) == codec.implementation.decoded_bytes_per_packet
    codes = codec.encode(frame)
    assert codes == b"\xf2\x72" * 960 and len(codes) == codec.implementation.encoded_bytes_per_packet
    with pytest.raises(CodecError, match="PCMU@48000h@20i@2c encode: 2 bytes"):
        codec.encode(linear(1))
    with pytest.raises(CodecError, match="PCMU@48000h@20i@2c decode: 3 bytes"):
        codec.decode(b"\xff\xff\xff")


def test_l16_passes_audio_through(core):
    codec = core.codec_open("L16@16000h@20i@2c")
    data = linear(*range(-640, 640))
    assert codec.encode(data) is data
    assert codec.decode(bytearray(data)) == data
    with pytest.raises(CodecError, match=r"L16@16000h@20i@2c: 6 bytes .* multiple of 4"):
        codec.encode(b"\0" * 6)
    mono16 = core.codec_open("L16@16000h")
    assert mod_pcm.raw_status(codec, mono16) == Status.NOOP
    assert mod_pcm.raw_status(codec, core.codec_open("L16")) == Status.RESAMPLE
    assert mod_pcm.raw_status(codec) == Status.NOOP


@pytest.mark.parametrize(("string", "message"), [
    ("G729", r"Invalid codec G729! .*available: L16, PCMA, PCMU, PROXY, PROXY-VID"),
    ("PCMU@16000h", r"Codec PCMU Exists but not at the desired implementation\. 16000hz 0ms 1ch"
                    r" .*8000hz 10,20,.*,120ms 1ch; 48000hz 10,20,30,40ms 1ch/2ch"),
    ("PCMA@48000h", r"Codec PCMA Exists but not .* 48000hz"),
    ("PCMU@25i", r"Codec PCMU Exists but not .* 0hz 25ms 1ch"),
    ("L16@8000h@20i@3c", r"Codec L16 Exists but not .* 3ch"),
    ("PCMU@abc", r"cannot read 'abc'"),
    ("", r"no codec name"),
    ("mod_nothere.PCMU", r"Invalid codec mod_nothere.PCMU! No loaded module"),
])
def test_bad_codec_strings(core, string, message):
    with pytest.raises(CodecError, match=message):
        core.codec_open(string)


def test_odd_byte_counts_are_refused(core):
    codec = core.codec_open("PCMA@8000h@20i")
    with pytest.raises(CodecError) as e:
        codec.encode(b"\0" * 319)
    assert "PCMA@8000h@20i encode: 319 bytes" in str(e.value)
    assert "multiple of 2" in str(e.value)


def test_open_flags(core):
    dec_only = core.codec_open("PCMU", CodecFlag.DECODE)
    assert dec_only.decode(b"\xff") == linear(0)
    with pytest.raises(CodecError, match="not opened for encoding"):
        dec_only.encode(linear(0))
    with pytest.raises(CodecError, match="refused to initialise"):
        core.codec_open("PCMU", CodecFlag(0))
    assert core.codec_open("PROXY", CodecFlag(0)) is not None  # proxy init always succeeds


def test_proxy_does_not_transcode(core):
    codec = core.codec_open("PROXY")
    with pytest.raises(CodecError, match="PROXY does not transcode"):
        codec.encode(linear(0))
    with pytest.raises(CodecError, match="PROXY does not transcode"):
        codec.decode(b"\xff")


def test_shutdown_answers_nounload(core):
    mod = core.modules.modules["mod_pcm"]
    assert mod_pcm.module_shutdown(module=mod) == Status.NOUNLOAD


def test_load_hook_adds_to_the_module_interface():
    class FakeModule:
        def __init__(self):
            self.added = []
            self.state = type("State", (), {})()

        def add_codec(self, iface):
            self.added.append(iface)
            return iface

    fake = FakeModule()
    assert mod_pcm.module_load(module=fake, core=None) is None
    assert [i.name for i in fake.added] == list(mod_pcm.INTERFACE_NAMES)
    assert fake.state.interfaces == fake.added
