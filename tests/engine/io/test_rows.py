"""One row reader for JSONL, Parquet and CSV tables: every row comes, numbered, with its problem."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.rows import read_rows


def test_jsonl_rows_keep_their_line_numbers_and_problems(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"caption": "a cat", "x": 1}\n\n{"caption": "caf\xe9"}\nnot json\n[1, 2]\n')
    rows = list(read_rows(str(path), columns=["caption"]))
    assert [r.number for r in rows] == [1, 3, 4, 5]
    assert rows[0].record == {"caption": "a cat"} and rows[0].error == ""
    assert rows[1].record == {"caption": "caf\ufffd"} and rows[1].error.startswith("bad_utf8: ")
    assert rows[2].record == {} and rows[2].text == "not json" and "row 4 is not JSON" in rows[2].error
    assert rows[3].error.endswith("row 5 is not a JSON object")


def test_parquet_and_csv_rows(tmp_path):
    table = pa.table({"image": ["a.jpg", "b.jpg"], "caption": [b"ok", b"caf\xe9"], "other": [1, 2]})
    pq.write_table(table, tmp_path / "t.parquet")
    rows = list(read_rows(str(tmp_path / "t.parquet"), columns=["image", "caption"], text=["caption"]))
    assert [r.record for r in rows] == [
        {"image": "a.jpg", "caption": "ok"},
        {"image": "b.jpg", "caption": "caf\ufffd"},
    ]
    assert rows[0].error == "" and "row 2 caption is not valid UTF-8" in rows[1].error
    (tmp_path / "t.csv").write_bytes(b"image,caption\na.jpg,x\nb.jpg,caf\xe9\n")
    rows = list(read_rows(str(tmp_path / "t.csv"), required="image"))
    assert [r.record["caption"] for r in rows] == ["x", "caf\ufffd"] and rows[1].error.startswith("bad_utf8")
    with pytest.raises(ValueError, match="has no 'key' column"):
        list(read_rows(str(tmp_path / "t.csv"), required="key"))
    with pytest.raises(ValueError, match=r"t.txt: not a .jsonl, .parquet, .csv, .arrow file"):
        list(read_rows(str(tmp_path / "t.txt")))


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_damaged_table_is_one_line_naming_it(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"PAR1 not a table at all")
    with pytest.raises(BadInput, match=rf"^{path}: not a readable (Parquet|Arrow) file \("):
        list(read_rows(str(path)))
