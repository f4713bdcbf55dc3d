"""spotkern._files' writers: every JSON, HTML and sidecar file of spotkern is written through a temporary file
beside it that replaces it at once, with the permissions of a file created normally."""
import hashlib
import json
import os
import stat
import threading

import pytest

from spotkern._files import file_sha256, publish, temporary_beside, write_json_atomic, write_text_atomic


def test_json_is_written_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.json"
    assert write_json_atomic(str(path), {"x": [1, 2]}, indent=1) == str(path)
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    assert path.read_text() == json.dumps({"x": [1, 2]}, indent=1)
    write_json_atomic(str(path), {"y": 3}, durable=True)  # replaces
    assert json.loads(path.read_text()) == {"y": 3}
    assert os.listdir(tmp_path) == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"old": true}')
    with pytest.raises(TypeError):
        write_json_atomic(str(path), {"bad": object()})  # not JSON-serialisable
    assert path.read_text() == '{"old": true}'
    assert os.listdir(tmp_path) == ["a.json"]


def test_written_files_get_the_umasks_permissions_not_mkstemps(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_text_atomic(str(tmp_path / "r.html"), "<p>é</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert open(path, encoding="utf-8").read() == "<p>é</p>"


def test_threads_writing_one_file_never_share_a_temporary_file(tmp_path):
    path = str(tmp_path / "same.json")
    errors = []

    def write(i):
        try:
            for _ in range(20):
                write_json_atomic(path, {"writer": i, "pad": "x" * 1000})
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(open(path).read())["writer"] in range(4)
    assert os.listdir(tmp_path) == ["same.json"]


def test_publish_moves_a_temporary_file_onto_its_destination(tmp_path):
    fd, tmp = temporary_beside(str(tmp_path / "f.npy"))
    os.write(fd, b"rows")
    os.close(fd)
    assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp).startswith(".f.npy.")
    publish(tmp, str(tmp_path / "f.npy"))
    assert (tmp_path / "f.npy").read_bytes() == b"rows" and not os.path.exists(tmp)


def test_file_sha256_is_hashlibs_over_several_blocks(tmp_path):
    data = os.urandom((1 << 20) + 12345)
    (tmp_path / "w.bin").write_bytes(data)
    assert file_sha256(str(tmp_path / "w.bin")) == hashlib.sha256(data).hexdigest()
