"""Which volume (drive) a path lives on, as the operating system tells it, without
extra privileges where it can.

Linux: the mount from ``/proc/self/mountinfo`` (longest mount point holding the path,
checked against the path's device number), the filesystem UUID and label from
``/dev/disk/by-uuid`` and ``/dev/disk/by-label`` (udev), else ``lsblk``, else
``blkid`` (which probes the device itself when it is readable, e.g. as root or in the
``disk`` group), the device serial from ``/sys/dev/block/MAJ:MIN`` or udev
(``udevadm info``), capacity and
used bytes from ``os.statvfs``. macOS: ``diskutil info -plist`` (volume UUID, name).
Windows: the volume serial number and label (``GetVolumeInformationW``). Elsewhere, or
when nothing names the volume, a :class:`Volume` has no ``uuid`` and is known by its
mount point (network shares by their source, ``server:/export``).

>>> vol = volume_of("/media/lab/WD-2019/scans")             # doctest: +SKIP
>>> vol.label, vol.mount_point, vol.id                      # doctest: +SKIP
('WD-2019', '/media/lab/WD-2019', 'a4dedeb5-04ef-4c6e-9ab1-38603078d81e')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: seconds a helper program (lsblk, blkid, diskutil) may take
TOOL_TIMEOUT = 5.0

#: filesystems that are not drives (nothing is ever offline on them)
_VIRTUAL = frozenset(
    [
        "proc",
        "sysfs",
        "devpts",
        "devtmpfs",
        "cgroup",
        "cgroup2",
        "securityfs",
        "pstore",
        "bpf",
        "debugfs",
        "tracefs",
        "mqueue",
        "hugetlbfs",
        "configfs",
        "fusectl",
        "autofs",
        "binfmt_misc",
        "rpc_pipefs",
        "nsfs",
    ]
)
_NETWORK = frozenset(
    [
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "sshfs",
        "fuse.sshfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
    ]
)


@dataclasses.dataclass(frozen=True)
class Volume:
    """A mounted filesystem: where it is and what names it.

    >>> Volume("/media/lab/WD-2019", uuid="a4de-01", label="WD-2019").id
    'a4de-01'
    >>> Volume("/mnt/x").id
    'mount:/mnt/x'
    """

    mount_point: str
    device: str | None = None  # /dev/sdb1, server:/export, ...
    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    serial: str | None = None
    capacity: int | None = None  # bytes
    used: int | None = None  # bytes
    majmin: str | None = None  # "7:0" (Linux)

    @property
    def id(self) -> str:
        """The drive's id in the index: its filesystem UUID, else its network source
        (``net:server:/export``), else its mount point (``mount:/mnt/x``)."""
        if self.uuid:
            return self.uuid.lower()
        if self.fstype in _NETWORK and self.device:
            return f"net:{self.device}"
        return f"mount:{self.mount_point}"

    @property
    def name(self) -> str:
        """What people call it: the label, else the UUID's start, else the folder."""
        return self.label or (self.uuid or "")[:8] or (Path(self.mount_point).name or "/")


# -- Linux ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Mount:
    mount_point: str
    majmin: str
    fstype: str
    source: str


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _mountinfo(text: str | None = None) -> list[_Mount]:
    """The mounts of ``/proc/self/mountinfo`` (or of ``text`` in its format).

    >>> line = "45 27 7:0 / /media/my\\\\040drive rw - ext4 /dev/loop0 rw"
    >>> _mountinfo(line)[0].mount_point
    '/media/my drive'
    """
    if text is None:
        try:
            text = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        out.append(_Mount(_unescape(fields[4]), fields[2], tail[0], _unescape(tail[1])))
    return out


def _run(args: list[str]) -> str | None:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _by_links(kind: str, device: str) -> str | None:
    """The name of ``device`` among the udev links ``/dev/disk/by-<kind>``."""
    folder = Path("/dev/disk") / f"by-{kind}"
    try:
        target = os.path.realpath(device)
        for link in folder.iterdir():
            if os.path.realpath(link) == target:
                return _unescape(link.name.replace("\\x", "\\")) if kind == "label" else link.name
    except OSError:
        return None
    return None


def _serial(majmin: str) -> str | None:
    """The device serial from sysfs (the disk's, for a partition), if the kernel has it."""
    base = Path("/sys/dev/block") / majmin
    for where in (base / "device" / "serial", base / ".." / "device" / "serial"):
        try:
            text = where.read_text().strip()
        except OSError:
            continue
        if text:
            return text
    return None


def _identity(device: str, majmin: str) -> dict[str, str | None]:
    """UUID, label and serial of a block ``device``: udev links, lsblk, then blkid."""
    found: dict[str, str | None] = {
        "uuid": _by_links("uuid", device),
        "label": _by_links("label", device),
        "serial": _serial(majmin),
    }
    if not found["uuid"] and shutil.which("lsblk"):
        raw = _run(["lsblk", "-J", "-n", "-o", "UUID,LABEL,SERIAL", device])
        try:
            rows = json.loads(raw)["blockdevices"] if raw else []
        except (ValueError, KeyError, TypeError):
            rows = []
        if rows:
            for key in ("uuid", "label", "serial"):
                found[key] = found[key] or rows[0].get(key)
    if not found["serial"] and shutil.which("udevadm"):  # udev's database: USB disks
        raw = _run(["udevadm", "info", "--query=property", f"--name={device}"])
        props = dict(line.split("=", 1) for line in (raw or "").splitlines() if "=" in line)
        found["serial"] = props.get("ID_SERIAL_SHORT") or props.get("ID_SERIAL") or None
    if not found["uuid"] and shutil.which("blkid"):
        # -p probes the device itself (readable: root, the disk group); the plain form
        # answers from blkid's cache, which may hold a device's previous filesystem
        raw = _run(["blkid", "-p", "-o", "export", device]) or _run(
            ["blkid", "-o", "export", device]
        )
        pairs = dict(line.split("=", 1) for line in (raw or "").splitlines() if "=" in line)
        found["uuid"] = pairs.get("UUID") or None
        found["label"] = found["label"] or pairs.get("LABEL") or None
    return found


def _usage(mount_point: str) -> tuple[int | None, int | None]:
    try:
        usage = shutil.disk_usage(mount_point)
    except OSError:
        return None, None
    return usage.total, usage.used


def _linux_volume(m: _Mount) -> Volume:
    ident: dict[str, Any] = {}
    if m.source.startswith("/dev/"):
        ident = _identity(m.source, m.majmin)
    capacity, used = _usage(m.mount_point)
    return Volume(
        m.mount_point,
        device=m.source,
        fstype=m.fstype,
        capacity=capacity,
        used=used,
        majmin=m.majmin,
        **ident,
    )


def _majmin(path: str) -> str | None:
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return None
    return f"{os.major(dev)}:{os.minor(dev)}"


def _linux_mount_of(path: str) -> _Mount | None:
    """The mount holding ``path``: the longest mount point above it, among the mounts
    of its device number when that is known (a later mount shadows an earlier one)."""
    real = os.path.realpath(path)
    majmin = _majmin(real)
    above = [
        (len(m.mount_point), k, m)
        for k, m in enumerate(_mountinfo())
        if real == m.mount_point or real.startswith(m.mount_point.rstrip("/") + "/")
    ]
    same = [a for a in above if a[2].majmin == majmin] or above
    return max(same, key=lambda a: a[:2])[2] if same else None


# -- macOS and Windows ----------------------------------------------------------------


def _mount_point_of(path: str) -> str:
    """The mount point holding ``path``, walking up while ``os.path.ismount`` is false."""
    here = os.path.realpath(path)
    while not os.path.ismount(here):
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return here


def _mac_volume(mount_point: str) -> Volume:
    import plistlib

    info: dict[str, Any] = {}
    raw = _run(["diskutil", "info", "-plist", mount_point]) if shutil.which("diskutil") else None
    if raw:
        try:
            info = plistlib.loads(raw.encode())
        except Exception:  # a plist we cannot read: known by its mount point
            info = {}
    capacity, used = _usage(mount_point)
    return Volume(
        mount_point,
        device=info.get("DeviceNode"),
        fstype=info.get("FilesystemType"),
        uuid=info.get("VolumeUUID") or info.get("DiskUUID"),
        label=info.get("VolumeName") or None,
        capacity=capacity,
        used=used,
    )


def _windows_volume(mount_point: str) -> Volume:
    label = serial = fstype = None
    try:
        import ctypes

        name_buf = ctypes.create_unicode_buffer(261)
        fs_buf = ctypes.create_unicode_buffer(261)
        number = ctypes.c_uint32()
        ok = ctypes.windll.kernel32.GetVolumeInformationW(  # type: ignore[attr-defined]
            ctypes.c_wchar_p(mount_point),
            name_buf,
            261,
            ctypes.byref(number),
            None,
            None,
            fs_buf,
            261,
        )
        if ok:
            label, fstype = name_buf.value or None, fs_buf.value or None
            serial = f"{number.value:08X}"
    except Exception:  # no volume information: known by its mount point
        pass
    capacity, used = _usage(mount_point)
    # the volume serial number is what Windows keeps per formatted volume
    return Volume(
        mount_point,
        fstype=fstype,
        uuid=serial,
        label=label,
        serial=serial,
        capacity=capacity,
        used=used,
    )


def _other_volume(mount_point: str) -> Volume:
    if sys.platform == "darwin":
        return _mac_volume(mount_point)
    if sys.platform == "win32":
        return _windows_volume(mount_point)
    capacity, used = _usage(mount_point)
    return Volume(mount_point, capacity=capacity, used=used)


# -- public ---------------------------------------------------------------------------


def volume_of(path: str | os.PathLike[str]) -> Volume | None:
    """The volume ``path`` lives on (``None`` if the path does not exist, or on a
    virtual filesystem such as ``/proc``).

    >>> volume_of("/media/lab/WD-2019/scans").label             # doctest: +SKIP
    'WD-2019'
    """
    text = os.fspath(path)
    if not os.path.exists(text):
        return None
    if sys.platform.startswith("linux"):
        m = _linux_mount_of(text)
        if m is None:
            return _other_volume(_mount_point_of(text))
        return None if m.fstype in _VIRTUAL else _linux_volume(m)
    try:
        return _other_volume(_mount_point_of(text))
    except Exception:  # never let the OS's answer crash a scan: unknown volume
        return None


def mounted_volumes() -> list[Volume]:
    """Every mounted drive-like volume (block devices and network shares on Linux;
    ``/`` and ``/Volumes/*`` on macOS; the drive letters on Windows).

    >>> [v.label for v in mounted_volumes()]                    # doctest: +SKIP
    [None, 'WD-2019']
    """
    if sys.platform.startswith("linux"):
        seen: set[str] = set()
        out = []
        for m in _mountinfo():
            wanted = m.source.startswith("/dev/") or m.fstype in _NETWORK
            if wanted and m.fstype not in _VIRTUAL and m.mount_point not in seen:
                seen.add(m.mount_point)
                out.append(_linux_volume(m))
        return out
    points: list[str] = []
    if sys.platform == "darwin":
        points = ["/", *(str(p) for p in Path("/Volumes").glob("*") if p.is_dir())]
    elif sys.platform == "win32":
        points = [f"{c}:\\" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if os.path.exists(f"{c}:\\")]
    out = []
    for p in points:
        try:
            out.append(_other_volume(p))
        except Exception:  # one volume the OS will not describe: left out
            continue
    return out


def find_mounted(drive_id: str) -> Volume | None:
    """The mounted volume whose :attr:`Volume.id` is ``drive_id``, or ``None`` (a drive
    known by its mount point is mounted while something is mounted there)."""
    if drive_id.startswith("mount:"):
        where = drive_id[len("mount:") :]
        if os.path.ismount(where):
            vol = volume_of(where)
            return vol if vol is not None and vol.id == drive_id else None
        return None
    for vol in mounted_volumes():
        if vol.id == drive_id:
            return vol
    return None


#: filesystems whose creation time ``tune2fs -l`` reads from the superblock
_EXT = frozenset(["ext2", "ext3", "ext4"])


def filesystem_created(vol: Volume) -> dt.datetime | None:
    """When the filesystem of ``vol`` was made (local time), where the OS tells it
    cheaply: ext2/3/4 superblocks through ``tune2fs -l`` ("Filesystem created"), which
    needs read access to the device (root, or the ``disk`` group). ``None`` otherwise:
    a drive's age is then the time voxcat first saw it (see :mod:`catalog.risk`).

    >>> filesystem_created(Volume("/mnt/x", fstype="nfs")) is None
    True
    """
    tool = shutil.which("tune2fs") or next(
        (p for p in ("/sbin/tune2fs", "/usr/sbin/tune2fs") if os.path.exists(p)), None
    )
    if vol.fstype not in _EXT or not vol.device or not vol.device.startswith("/dev/") or not tool:
        return None
    try:
        done = subprocess.run(
            [tool, "-l", vol.device],
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"^Filesystem created:\s*(.+?)\s*$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not m:
        return None
    try:
        return dt.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
