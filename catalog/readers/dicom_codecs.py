"""imagecodecs as a pydicom 3 pixel-data decoder plugin.

pydicom decodes compressed transfer syntaxes through plugins (pylibjpeg, gdcm, pillow,
pyjpegls); pydicom 3.0 has none for imagecodecs, a voxcat dependency whose
libjpeg-turbo, CharLS and OpenJPEG decode JPEG (baseline, 12-bit extended, lossless),
JPEG-LS and JPEG 2000. :func:`register` adds it after pydicom's own plugins, so
pylibjpeg stays first and imagecodecs decodes what the others cannot (for instance a
12-bit JPEG with a non-conformant scan header that libjpeg rejects).

A plugin returns one frame's samples as stored: no colour conversion (pydicom converts
YBR to RGB afterwards), colour-by-pixel, in a container as wide as the codestream's
precision. This module is the plugin pydicom imports: it must hold ``is_available``,
``DECODER_DEPENDENCIES`` and the decode function.

>>> register()                                               # doctest: +SKIP
>>> "imagecodecs" in get_decoder(JPEGLSLossless).available_plugins   # doctest: +SKIP
True
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pydicom import uid
from pydicom.pixels.common import PhotometricInterpretation

if TYPE_CHECKING:  # pragma: no cover
    from pydicom.pixels.decoders.base import DecodeRunner

LABEL = "imagecodecs"
JPEG = (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless, uid.JPEGLosslessSV1)
JPEG_LS = (uid.JPEGLSLossless, uid.JPEGLSNearLossless)
JPEG_2000 = (uid.JPEG2000Lossless, uid.JPEG2000)
DECODER_DEPENDENCIES = dict.fromkeys((*JPEG, *JPEG_LS, *JPEG_2000), ("imagecodecs>=2024.6",))
_lock = threading.Lock()
_registered = False


def is_available(syntax: str) -> bool:
    """Whether imagecodecs is installed with the codec ``syntax`` needs."""
    try:
        import imagecodecs
    except ImportError:
        return False
    if syntax not in DECODER_DEPENDENCIES:
        return False
    codec = "JPEG8" if syntax in JPEG else "JPEGLS" if syntax in JPEG_LS else "JPEG2K"
    return bool(getattr(getattr(imagecodecs, codec, None), "available", False))


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """One encoded frame -> its samples as stored (the plugin function pydicom calls)."""
    import imagecodecs

    syntax = runner.transfer_syntax
    if syntax in JPEG:
        # the same colour space in and out: libjpeg-turbo converts nothing, and
        # pydicom applies the YBR -> RGB conversion the header asks for
        if runner.samples_per_pixel == 3:
            arr = imagecodecs.jpeg8_decode(src, colorspace="RGB", outcolorspace="RGB")
        else:
            arr = imagecodecs.jpeg8_decode(src)
    elif syntax in JPEG_LS:
        arr = imagecodecs.jpegls_decode(src)
    elif syntax in JPEG_2000:
        arr = imagecodecs.jpeg2k_decode(src)
        # OpenJPEG undoes the multiple-component transform
        if runner.photometric_interpretation in (
            PhotometricInterpretation.YBR_ICT,
            PhotometricInterpretation.YBR_RCT,
        ):
            runner.set_option("photometric_interpretation", PhotometricInterpretation.RGB)
    else:
        raise NotImplementedError(f"imagecodecs plugin: no decoder for {syntax.name}")
    if runner.samples_per_pixel > 1:
        runner.set_option("planar_configuration", 0)  # decoded colour-by-pixel
    runner.set_option("bits_allocated", 8 * arr.dtype.itemsize)  # the decoded container
    return arr.tobytes()


def register() -> None:
    """Add the imagecodecs plugin to pydicom's decoders (once per process; thread-safe)."""
    global _registered
    if _registered:
        return
    from pydicom.pixels import get_decoder

    with _lock:
        if _registered:
            return
        for syntax in DECODER_DEPENDENCIES:
            try:
                get_decoder(syntax).add_plugin(LABEL, (__name__, "decode_frame"))
            except ValueError:  # already added (or pydicom ships a plugin of that name)
                continue
        _registered = True
