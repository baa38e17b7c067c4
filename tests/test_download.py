"""`heartbeat data download` against a local HTTP server that serves the shipped sample as PhysioNet lays it out.

No test touches the internet: the server is http.server on 127.0.0.1 (port 0), and wfdb's index
URL is pointed at it with --url (or $HEARTBEAT_PHYSIONET_URL).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import pytest

from heartbeat.cli import main
from heartbeat.data.download import MANIFEST, URL_ENV, download_mitdb, parse_manifest

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "heartbeat" / "data" / "sample" / "mitdb"
RECORDS = ["208", "213", "217", "232"]
FILES = sorted(p.name for p in SAMPLE.iterdir())


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def server(tmp_path, monkeypatch):
    """(index URL, the served mitdb/1.0.0 folder): a copy of the sample that a test may spoil."""
    root = tmp_path / "srv"
    served = root / "mitdb" / "1.0.0"
    shutil.copytree(SAMPLE, served)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never through a proxy, if one is set
    monkeypatch.delenv(URL_ENV, raising=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/", served
    httpd.shutdown()
    httpd.server_close()


def download(url, out, *extra):
    return main(["data", "download", "--out", str(out), "--url", url, *extra])


def stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_full_download_is_byte_identical_then_resumes_skipping_everything(server, tmp_path, capsys):
    url, _ = server
    out = tmp_path / "mitdb"
    assert download(url, out) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("[1/4] 208 ... 2.0 MB, fetched")
    assert printed[-1] == (f"4 records, 7.8 MB in {out}: 4 fetched, 0 skipped (already correct); "
                           "4 verified (SHA256 and wfdb read)")
    assert sorted(p.name for p in out.iterdir()) == FILES  # no .part left behind
    for name in FILES:
        assert (out / name).read_bytes() == (SAMPLE / name).read_bytes(), name

    before = stamps(out)
    assert download(url, out) == 0
    printed = capsys.readouterr().out.splitlines()
    assert all("skipped (present and correct)" in line for line in printed[:-1])
    assert "0 fetched, 4 skipped" in printed[-1]
    assert stamps(out) == before  # nothing rewritten, not even RECORDS or SHA256SUMS.txt


@pytest.mark.parametrize("spoil", ["truncated", "corrupted"])
def test_a_partial_or_changed_local_file_is_fetched_again(server, tmp_path, capsys, spoil):
    url, _ = server
    out = tmp_path / "mitdb"
    assert download(url, out, "--records", "213,217") == 0
    dat = out / "213.dat"
    data = bytearray(dat.read_bytes())
    dat.write_bytes(data[:1000] if spoil == "truncated" else bytes(data[:500]) + bytes([data[500] ^ 0xFF]) + data[501:])
    kept = stamps(out)
    capsys.readouterr()

    assert download(url, out, "--records", "213,217") == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "[1/2] 213 ... 2.0 MB, re-fetched 213.dat (was partial or changed); kept 213.hea, 213.atr"
    assert printed[1] == "[2/2] 217 ... 2.0 MB, skipped (present and correct)"
    assert "1 fetched (1 partial or changed files fetched again), 1 skipped" in printed[-1]
    assert dat.read_bytes() == (SAMPLE / "213.dat").read_bytes()
    assert {n: t for n, t in stamps(out).items() if n != "213.dat"} == {n: t for n, t in kept.items() if n != "213.dat"}


def test_a_subset_lists_only_its_records_and_their_hashes(server, tmp_path):
    url, _ = server
    out = tmp_path / "mitdb"
    assert download(url, out, "--records", "217,208") == 0
    assert (out / "RECORDS").read_text() == "208\n217\n"  # the server's order, the records held
    assert set(parse_manifest((out / MANIFEST).read_text())) == {f"{r}.{e}" for r in ("208", "217")
                                                                 for e in ("hea", "dat", "atr")}
    assert download(url, out, "--records", "213,232") == 0
    assert (out / "RECORDS").read_bytes() == (SAMPLE / "RECORDS").read_bytes()
    assert (out / MANIFEST).read_bytes() == (SAMPLE / MANIFEST).read_bytes()


def test_a_server_file_with_a_wrong_hash_is_an_error_naming_file_expected_and_got(server, tmp_path, capsys):
    url, served = server
    atr = served / "217.atr"
    data = atr.read_bytes()
    atr.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])  # same size, one byte changed
    expected = parse_manifest((SAMPLE / MANIFEST).read_text())["217.atr"]
    out = tmp_path / "mitdb"
    out.mkdir()
    (out / "217.atr").write_bytes(b"partial")  # a wrong local file: left as it was, not replaced by another wrong one

    assert download(url, out, "--records", "208,217") == 1
    err = capsys.readouterr().err
    assert "217.atr: SHA256 mismatch" in err and f"expected {expected}" in err
    assert f"got {hashlib.sha256(atr.read_bytes()).hexdigest()}" in err
    assert (out / "217.atr").read_bytes() == b"partial"
    assert not list(out.glob("*.part"))
    assert (out / "208.dat").read_bytes() == (SAMPLE / "208.dat").read_bytes()  # records before it are kept


def test_without_a_manifest_sizes_and_the_wfdb_read_check_the_files(server, tmp_path, capsys):
    url, served = server
    (served / MANIFEST).unlink()
    out = tmp_path / "mitdb"
    assert download(url, out, "--records", "232") == 0
    assert "verified (size and wfdb read; the server has no SHA256SUMS.txt)" in capsys.readouterr().out
    assert not (out / MANIFEST).exists()

    dat = served / "208.dat"
    dat.write_bytes(dat.read_bytes()[:1_000_000])
    assert download(url, out, "--records", "208") == 1
    assert ("208.dat: 1000000 bytes, expected 1950000 (650000 samples x 2 signals in format 212, "
            "as 208.hea says)") in capsys.readouterr().err


def test_unknown_records_and_an_unreachable_server_say_so(server, tmp_path, capsys):
    url, _ = server
    assert download(url, tmp_path / "a", "--records", "208,999") == 1
    assert "record(s) 999 not in" in capsys.readouterr().err

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert download(f"http://127.0.0.1:{port}/", tmp_path / "b") == 1
    err = capsys.readouterr().err
    assert f"cannot reach http://127.0.0.1:{port}/mitdb/1.0.0/RECORDS" in err and "embedded sample" in err


def test_the_environment_names_the_server_and_wfdb_config_is_put_back(server, tmp_path, monkeypatch):
    from wfdb.io import download as wdl

    url, _ = server
    before = wdl.config.db_index_url
    monkeypatch.setenv(URL_ENV, url.rstrip("/"))
    report = download_mitdb(tmp_path / "mitdb", records=["217"])
    assert report.url == url and report.hashed and [r.name for r in report.records] == ["217"]
    assert wdl.config.db_index_url == before


def test_help_teaches_with_examples_and_the_licence(capsys):
    with pytest.raises(SystemExit):
        main(["data", "download", "--help"])
    text = capsys.readouterr().out
    for needle in ("heartbeat data download --records 100,101", "--url", "HEARTBEAT_PHYSIONET_URL",
                   "ODC-By 1.0", "Moody GB, Mark RG", "Goldberger", "SHA256SUMS.txt", "resume"):
        assert needle in text, needle
