"""Fetch the MIT-BIH Arrhythmia Database from PhysioNet (or a mirror) through wfdb, resumably and checked.

Files are addressed the way wfdb addresses them: ``<index url>/mitdb/1.0.0/<file>``, where the
index URL is wfdb's ``config.db_index_url`` (PhysioNet's ``https://physionet.org/files/`` by
default; :func:`download_mitdb` sets it for the call and puts it back). Each file is fetched with
wfdb's own ``dl_full_file`` into ``<name>.part`` and renamed only once it checks out, so a file
that is already correct is never overwritten and an interrupted run leaves no half file under a
real name.

Checks, in order:

- where the server publishes ``SHA256SUMS.txt`` at the database root (PhysioNet does), every file
  against its SHA256: a local file that matches is skipped, one that does not (partial, changed)
  is fetched again, and a fetched file that does not match is an error naming file, expected and got;
- without ``SHA256SUMS.txt``, a local file is kept when its size is the server's size;
- in any case, each record reads with wfdb: its header, a signal as long as the header says
  (the ``.dat`` size first, so a short file is named as such), and its ``atr`` annotations.

The folder ends up as PhysioNet lays it out: ``NNN.hea``, ``NNN.dat``, ``NNN.atr``, a ``RECORDS``
file listing the records held, and ``SHA256SUMS.txt`` holding the server's lines for the files
held (so ``sha256sum -c SHA256SUMS.txt`` checks the folder).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from heartbeat.errors import DataError, HeartbeatError

DATABASE = "mitdb"
VERSION = "1.0.0"
URL_ENV = "HEARTBEAT_PHYSIONET_URL"
MANIFEST = "SHA256SUMS.txt"
PART = ".part"


class DownloadError(HeartbeatError, OSError):
    """A file that could not be fetched, or that arrived different from what the server says it is."""


class ServerUnreachable(DownloadError):
    """The server did not answer at all (no network, wrong host or port)."""


@dataclass
class RecordResult:
    """What happened to one record's files: each file's name and what was done with it."""

    name: str
    nbytes: int = 0
    fetched: list[str] = field(default_factory=list)
    refetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def line(self, i: int, n: int) -> str:
        if not self.fetched and not self.refetched:
            what = "skipped (present and correct)"
        else:
            parts = []
            if self.fetched:
                parts.append("fetched")
            if self.refetched:
                parts.append("re-fetched " + ", ".join(self.refetched) + " (was partial or changed)")
            if self.skipped:
                parts.append("kept " + ", ".join(self.skipped))
            what = "; ".join(parts)
        return f"[{i}/{n}] {self.name} ... {self.nbytes / 1e6:.1f} MB, {what}"


@dataclass
class DownloadReport:
    """The outcome of :func:`download_mitdb`: one entry per record, and how the files were checked."""

    out: Path
    url: str
    records: list[RecordResult]
    hashed: bool  # the server had SHA256SUMS.txt and every file was checked against it

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.records)

    @property
    def n_skipped(self) -> int:
        return sum(1 for r in self.records if not r.fetched and not r.refetched)

    def summary(self) -> str:
        how = "SHA256 and wfdb read" if self.hashed else "size and wfdb read; the server has no SHA256SUMS.txt"
        n = len(self.records)
        refetched = sum(len(r.refetched) for r in self.records)
        again = f" ({refetched} partial or changed files fetched again)" if refetched else ""
        return (f"{n} records, {self.nbytes / 1e6:.1f} MB in {self.out}: {n - self.n_skipped} fetched{again}, "
                f"{self.n_skipped} skipped (already correct); {n} verified ({how})")


@contextmanager
def index_url(url: str | None) -> Iterator[str]:
    """Point wfdb's PhysioNet index URL at ``url`` for the block (None: leave it), then put it back."""
    from wfdb.io import download as wdl  # wfdb: only where records are read or fetched

    before = wdl.config.db_index_url
    if url:
        wdl.set_db_index_url(url if url.endswith("/") else url + "/")
    try:
        yield wdl.config.db_index_url
    finally:
        wdl.set_db_index_url(before)


def file_url(name: str, pn_dir: str) -> str:
    """The URL of one database file, built as wfdb builds it (``dl_pn_file``)."""
    from wfdb.io import download as wdl  # wfdb: only where records are read or fetched

    return posixpath.join(wdl.config.db_index_url, pn_dir, name)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_manifest(text: str) -> dict[str, str]:
    """``SHA256SUMS.txt`` lines (``hash  name``, or ``hash *name``) as {name: hash}."""
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _read_remote(name: str, pn_dir: str) -> bytes | None:
    """A small remote file's bytes, or None where the server has no such file."""
    from wfdb.io import _url  # wfdb: only where records are read or fetched

    url = file_url(name, pn_dir)
    try:
        with _url.openurl(url, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:  # requests' errors derive from OSError too
        raise _unreachable(url, exc) from exc


def _unreachable(url: str, exc: Exception) -> DownloadError:
    from wfdb.io import _url  # wfdb: only where records are read or fetched

    if isinstance(exc, _url.NetFileError):  # the server answered, with an HTTP error
        return DownloadError(f"{url}: {exc}")
    return ServerUnreachable(f"cannot reach {url}: {exc}")


def _remote_size(name: str, pn_dir: str) -> int:
    from wfdb.io import download as wdl  # wfdb: only where records are read or fetched

    try:
        return wdl._remote_file_size(file_name=name, pn_dir=pn_dir)
    except OSError as exc:
        raise _unreachable(file_url(name, pn_dir), exc) from exc


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + PART)
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Fetcher:
    """Brings one file into ``out`` unless it is already there and correct."""

    def __init__(self, out: Path, pn_dir: str, sums: dict[str, str] | None):
        self.out, self.pn_dir, self.sums = out, pn_dir, sums

    def is_correct(self, path: Path, name: str) -> bool:
        if not path.is_file():
            return False
        if self.sums is not None:
            return sha256(path) == self.sums[name]
        return path.stat().st_size == _remote_size(name, self.pn_dir)

    def fetch(self, name: str, result: RecordResult) -> None:
        from wfdb.io import download as wdl  # wfdb: only where records are read or fetched

        path = self.out / name
        if self.sums is not None and name not in self.sums:
            raise DownloadError(f"{name}: not listed in the server's {MANIFEST}, "
                                f"so it cannot be checked ({file_url(MANIFEST, self.pn_dir)})")
        present = path.is_file()
        if self.is_correct(path, name):
            result.skipped.append(name)
            result.nbytes += path.stat().st_size
            return
        url = file_url(name, self.pn_dir)
        tmp = path.with_name(name + PART)
        try:
            wdl.dl_full_file(url, str(tmp))
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _unreachable(url, exc) from exc
        if self.sums is not None:
            got = sha256(tmp)
            if got != self.sums[name]:
                tmp.unlink()
                raise DownloadError(f"{name}: SHA256 mismatch: expected {self.sums[name]} "
                                    f"(the server's {MANIFEST}), got {got} from {url}"
                                    + (f"; the local {path} was left as it was" if present else ""))
        os.replace(tmp, path)
        (result.refetched if present else result.fetched).append(name)
        result.nbytes += path.stat().st_size


def verify_record(folder: Path, name: str) -> None:
    """Read one record with wfdb: header, a signal as long as the header says, and its annotations."""
    import wfdb  # wfdb: only where records are read or fetched
    from wfdb.io._signal import BYTES_PER_SAMPLE  # wfdb: only where records are read or fetched

    base = str(folder / name)
    try:
        header = wfdb.rdheader(base)
    except Exception as exc:
        raise DataError(f"{base}.hea: wfdb cannot read the header ({exc})") from exc
    # A short .dat file is named as such, before wfdb fails on it with a broadcasting error.
    offsets = header.byte_offset or [None] * header.n_sig
    for dat in dict.fromkeys(header.file_name):
        chans = [i for i, f in enumerate(header.file_name) if f == dat]
        per_sample = BYTES_PER_SAMPLE.get(header.fmt[chans[0]], 0)
        if not per_sample:
            continue  # compressed formats (508, 516, 524): no fixed size
        expected = int(header.sig_len * len(chans) * per_sample + 0.5) + (offsets[chans[0]] or 0)
        got = (folder / dat).stat().st_size if (folder / dat).is_file() else None
        if got is None:
            raise DataError(f"{folder / dat}: missing; {name}.hea names it")
        if got < expected:
            raise DataError(f"{folder / dat}: {got} bytes, expected {expected} ({header.sig_len} samples x "
                            f"{len(chans)} signals in format {header.fmt[chans[0]]}, as {name}.hea says)")
    try:
        record = wfdb.rdrecord(base, physical=False)
    except Exception as exc:
        raise DataError(f"{base}: wfdb cannot read the signal ({exc})") from exc
    if record.d_signal.shape != (header.sig_len, header.n_sig):
        raise DataError(f"{base}.dat: signal of shape {record.d_signal.shape}, expected "
                        f"({header.sig_len}, {header.n_sig}) from {name}.hea")
    try:
        ann = wfdb.rdann(base, "atr")
    except Exception as exc:
        raise DataError(f"{base}.atr: wfdb cannot read the annotations ({exc})") from exc
    if len(ann.sample) == 0 or ann.sample.min() < 0 or ann.sample.max() >= header.sig_len:
        raise DataError(f"{base}.atr: {len(ann.sample)} annotations, expected at least one, "
                        f"all within the signal's {header.sig_len} samples")


def _record_files(folder: Path, name: str) -> list[str]:
    """The signal files a fetched header names (mitdb: one ``NNN.dat``)."""
    import wfdb  # wfdb: only where records are read or fetched

    header = wfdb.rdheader(str(folder / name))
    return list(dict.fromkeys(header.file_name))


def download_mitdb(out: str | Path = "data/mitdb", records: list[str] | None = None, url: str | None = None,
                   progress: Callable[[str], None] | None = None) -> DownloadReport:
    """Fetch MIT-BIH records into ``out``; skip what is already correct; check every record.

    ``records``: names such as ``["100", "101"]`` (default: every record in the server's RECORDS).
    ``url``: the index URL that holds ``mitdb/1.0.0/`` (default: ``$HEARTBEAT_PHYSIONET_URL``, else
    wfdb's, PhysioNet's). ``progress`` gets one line per record. Raises :class:`DownloadError`
    (a file that will not come or does not match), :class:`ServerUnreachable` (no answer at all)
    or :class:`heartbeat.errors.DataError` (a record wfdb cannot read).
    """
    out = Path(out)
    pn_dir = f"{DATABASE}/{VERSION}"
    say = progress or (lambda line: None)
    with index_url(url or os.environ.get(URL_ENV)) as base:
        listing = _read_remote("RECORDS", pn_dir)
        if listing is None:
            raise DownloadError(f"{file_url('RECORDS', pn_dir)}: not found; expected the database's record "
                                f"list there (is {base} a PhysioNet index holding {pn_dir}/?)")
        server_records = listing.decode("ascii").split()
        wanted = list(server_records) if records is None else [str(r).strip() for r in records if str(r).strip()]
        unknown = [r for r in wanted if r not in server_records]
        if unknown:
            raise DownloadError(f"record(s) {', '.join(unknown)} not in {file_url('RECORDS', pn_dir)} "
                                f"({len(server_records)} records: {' '.join(server_records)})")
        manifest = _read_remote(MANIFEST, pn_dir)
        sums = parse_manifest(manifest.decode("utf-8")) if manifest is not None else None
        out.mkdir(parents=True, exist_ok=True)
        fetcher = _Fetcher(out, pn_dir, sums)
        results = []
        for i, name in enumerate(wanted, 1):
            result = RecordResult(name)
            fetcher.fetch(f"{name}.hea", result)
            for dat in _record_files(out, name):
                fetcher.fetch(dat, result)
            fetcher.fetch(f"{name}.atr", result)
            verify_record(out, name)
            results.append(result)
            say(result.line(i, len(wanted)))
        _write_listing(out, server_records, listing, sums, manifest)
    return DownloadReport(out=out, url=base, records=results, hashed=sums is not None)


def _write_listing(out: Path, server_records: list[str], listing: bytes, sums: dict[str, str] | None,
                   manifest: bytes | None) -> None:
    """RECORDS for the records held (the server's own bytes when all are), SHA256SUMS.txt for the files held."""
    old = (out / "RECORDS").read_text().split() if (out / "RECORDS").is_file() else []
    extra = [r for r in old if r not in server_records]  # the user's own records beside these
    held = [r for r in server_records + extra if (out / f"{r}.hea").is_file()]
    text = listing if held == server_records else "".join(r + "\n" for r in held).encode("ascii")
    if not (out / "RECORDS").is_file() or (out / "RECORDS").read_bytes() != text:
        _write_atomic(out / "RECORDS", text)
    if sums is None:
        return
    lines = [line for line in manifest.decode("utf-8").splitlines(keepends=True)
             if (parts := line.strip().split(maxsplit=1)) and len(parts) == 2
             and (out / parts[1].lstrip("*")).is_file()
             and (parts[1].lstrip("*") != "RECORDS" or text == listing)]
    body = "".join(lines).encode("utf-8")
    if not (out / MANIFEST).is_file() or (out / MANIFEST).read_bytes() != body:
        _write_atomic(out / MANIFEST, body)
