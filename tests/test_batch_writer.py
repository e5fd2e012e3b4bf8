"""The stylize runner's background writer: every batch's files are written, in order, and an image enters the
manifest (on disk) only once its files exist; failures fail their image only."""
import json
import os

from localstyle.stylize.outputs import Manifest
from localstyle.stylize.writer import BatchWriter
from localstyle.utils.errors import LocalstyleError


def test_batches_are_written_in_order_and_the_manifest_follows_the_files(tmp_path):
    manifest = Manifest(str(tmp_path))
    seen_on_disk = []

    def write(stem):
        def job():
            with open(tmp_path / f"{stem}.png", "w") as f:
                f.write(stem)
            # what the manifest on disk holds while this image is being written: earlier images only
            if os.path.isfile(manifest.path):
                with open(manifest.path) as f:
                    seen_on_disk.append((stem, sorted(json.load(f)["images"])))
            return {"input": stem}
        return job

    def broken():
        raise LocalstyleError("disk says no")

    batches = [[(f"in/b{b}i{i}.jpg", write(f"b{b}i{i}")) for i in range(3)] for b in range(4)]
    batches[1][1] = ("in/b1i1.jpg", broken)
    batches[2][0] = ("in/b2i0.jpg", LocalstyleError("b2i0.jpg: no people found"))
    writer = BatchWriter(manifest, {"STYLE.METHOD": "arbitrary"})
    results = []
    for jobs in batches:
        results += writer.submit(jobs)
    results += writer.close()

    assert [p for p, _ in results] == [p for jobs in batches for p, _ in jobs]
    failed = [p for p, r in results if isinstance(r, Exception)]
    assert failed == ["in/b1i1.jpg", "in/b2i0.jpg"]
    with open(manifest.path) as f:
        saved = json.load(f)
    done = sorted(os.path.splitext(os.path.basename(p))[0] for p, r in results if not isinstance(r, Exception))
    assert sorted(saved["images"]) == done and len(done) == 10
    assert saved["settings"] == {"STYLE.METHOD": "arbitrary"}
    assert all(os.path.isfile(tmp_path / f"{stem}.png") for stem in done)
    # a batch's images reach the manifest file only after the whole batch was written
    for stem, listed in seen_on_disk:
        batch = int(stem[1])
        assert all(int(s[1]) < batch for s in listed), (stem, listed)
