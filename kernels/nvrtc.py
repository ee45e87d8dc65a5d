"""A small ctypes wrapper over NVRTC, CUDA's runtime compiler: CUDA C source in, CUBIN or PTX out.

NVRTC ships with PyTorch's CUDA wheels (the nvidia-cuda-nvrtc package), so kernels compile without a
CUDA toolkit, and without a GPU: compiling needs neither a driver nor a device.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os


class NvrtcError(RuntimeError):
    pass


def find_library() -> str | None:
    """Path of libnvrtc: from the nvidia-* wheels if installed (newest first), else the system's."""
    try:
        import nvidia
    except ImportError:
        roots = []
    else:
        roots = list(nvidia.__path__)
    found = [path for root in roots for path in glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so.*"))]
    if found:
        return max(found, key=_soname_version)
    return ctypes.util.find_library("nvrtc")


def _soname_version(path: str) -> tuple[int, ...]:
    suffix = os.path.basename(path).removeprefix("libnvrtc.so.")
    return tuple(int(part) for part in suffix.split(".") if part.isdigit())


@functools.cache
def _lib() -> ctypes.CDLL:
    path = find_library()
    if path is None:
        raise NvrtcError(
            "NVRTC (libnvrtc) was not found; it comes with PyTorch's CUDA wheels "
            "(pip package nvidia-cuda-nvrtc) or with a CUDA toolkit"
        )
    lib = ctypes.CDLL(path)
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


def _check(result: int, call: str, log: str = "") -> None:
    if result != 0:
        message = _lib().nvrtcGetErrorString(result).decode()
        raise NvrtcError(f"{call} failed: {message}" + (f"\n{log}" if log else ""))


def version() -> tuple[int, int]:
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(_lib().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


def supported_archs() -> list[int]:
    """Compute capabilities this NVRTC compiles for, as 10 * major + minor, ascending."""
    count = ctypes.c_int()
    _check(_lib().nvrtcGetNumSupportedArchs(ctypes.byref(count)), "nvrtcGetNumSupportedArchs")
    archs = (ctypes.c_int * count.value)()
    _check(_lib().nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs")
    return list(archs)


def compile_source(source: str, name: str, options: list[str], cubin: bool) -> bytes:
    """Compile `source`: CUBIN with --gpu-architecture=sm_XX in `options` and cubin=True, else PTX."""
    lib = _lib()
    program = ctypes.c_void_p()
    _check(
        lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(), name.encode(), 0, None, None),
        "nvrtcCreateProgram",
    )
    try:
        encoded = [option.encode() for option in options]
        result = lib.nvrtcCompileProgram(program, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
        _check(result, f"nvrtcCompileProgram({name}, {' '.join(options)})", _log(program))
        return _output(program, "CUBIN" if cubin else "PTX")
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))


def _log(program: ctypes.c_void_p) -> str:
    size = ctypes.c_size_t()
    _check(_lib().nvrtcGetProgramLogSize(program, ctypes.byref(size)), "nvrtcGetProgramLogSize")
    log = ctypes.create_string_buffer(size.value)
    _check(_lib().nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog")
    return log.value.decode(errors="replace")


def _output(program: ctypes.c_void_p, kind: str) -> bytes:
    lib = _lib()
    size = ctypes.c_size_t()
    _check(getattr(lib, f"nvrtcGet{kind}Size")(program, ctypes.byref(size)), f"nvrtcGet{kind}Size")
    data = ctypes.create_string_buffer(size.value)
    _check(getattr(lib, f"nvrtcGet{kind}")(program, data), f"nvrtcGet{kind}")
    return data.raw
