"""`render` writes a clean tree: the output folder holds exactly what the
current settings produce. Files of an earlier render that the settings no
longer produce are deleted; files render wrote are overwritten even after a
user edited them; anything render did not write is never touched, and a
folder holding such a file is refused."""

from __future__ import annotations

import pytest
import yaml

from stack.__main__ import main
from stack.render import MANIFEST, OutputFolderError, rendered_files, write_rendered
from stack.settings import load_from_stack_file

PAGER = "alertmanager/etc/alertmanager/secrets/oncall-pager"


def stack_file(folder, receivers: list[dict], secrets: dict[str, str]):
    path = folder / "Pulumi.qa.yaml"
    routing = {"receivers": receivers, "critical": [r["name"] for r in receivers]}
    config = {
        "gateway-observability:target": "docker",
        "gateway-observability:alerting": {"routing": routing},
    }
    if secrets:
        config["gateway-observability:receiverSecrets"] = {name: {"secure": f"v1:{name}"} for name in secrets}
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def files_in(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def with_pager(tmp_path):
    return load_from_stack_file(stack_file(
        tmp_path,
        [{"name": "oncall-pager", "pagerduty": {}}, {"name": "sre-hook", "webhook": {"url": "https://hooks.example.com/a"}}],
        {"oncall-pager": "key"},
    ))


@pytest.fixture
def without_pager(tmp_path):
    return load_from_stack_file(stack_file(tmp_path, [{"name": "sre-hook", "webhook": {"url": "https://hooks.example.com/a"}}], {}))


def test_removing_a_receiver_deletes_its_secret_placeholder_on_the_next_render(tmp_path, with_pager, without_pager):
    out = tmp_path / "out"
    write_rendered(with_pager, out)
    assert PAGER in files_in(out)
    result = write_rendered(without_pager, out)
    assert PAGER not in files_in(out)
    assert result.removed == [out / PAGER]
    # The folder holds exactly what the settings produce, and the manifest.
    assert files_in(out) == set(rendered_files(without_pager)) | {MANIFEST}
    assert not (out / "alertmanager/etc/alertmanager/secrets").exists(), "a folder render emptied is removed too"


def test_the_manifest_lists_every_file_render_wrote(tmp_path, without_pager):
    out = tmp_path / "out"
    write_rendered(without_pager, out)
    listed = [line for line in (out / MANIFEST).read_text().splitlines() if line and not line.startswith("#")]
    assert listed == sorted(rendered_files(without_pager))


def test_a_folder_with_a_strangers_file_is_refused_and_left_untouched(tmp_path, without_pager):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("my notes")
    before = {p: p.read_bytes() for p in out.rglob("*")}
    with pytest.raises(OutputFolderError, match="is not empty and is not the output of an earlier render .* notes.md"):
        write_rendered(without_pager, out)
    assert {p: p.read_bytes() for p in out.rglob("*")} == before


def test_a_strangers_file_inside_an_earlier_render_is_refused_and_left_untouched(tmp_path, with_pager, without_pager):
    out = tmp_path / "out"
    write_rendered(with_pager, out)
    (out / "alertmanager/notes.md").write_text("my notes")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(OutputFolderError, match="holds files render did not write: alertmanager/notes.md"):
        write_rendered(without_pager, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before, "nothing written, nothing deleted"


def test_files_render_wrote_and_a_user_edited_are_overwritten(tmp_path, without_pager):
    out = tmp_path / "out"
    write_rendered(without_pager, out)
    edited = out / "prometheus/etc/prometheus/prometheus.yml"
    original = edited.read_text()
    edited.write_text("# hand edit\n")
    write_rendered(without_pager, out)
    assert edited.read_text() == original


def test_a_manifest_naming_paths_outside_the_folder_is_refused(tmp_path, without_pager):
    out = tmp_path / "out"
    write_rendered(without_pager, out)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    with (out / MANIFEST).open("a") as manifest:
        manifest.write("../victim.txt\n")
    with pytest.raises(OutputFolderError, match=r"names '../victim.txt', not a path inside the folder"):
        write_rendered(without_pager, out)
    assert victim.read_text() == "keep me"


def test_a_symbolic_link_in_the_folder_is_a_strangers_file_and_is_not_followed(tmp_path, without_pager):
    out = tmp_path / "out"
    write_rendered(without_pager, out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data").write_text("keep me")
    (out / "linked").symlink_to(elsewhere)
    with pytest.raises(OutputFolderError, match="holds files render did not write: linked"):
        write_rendered(without_pager, out)
    assert (elsewhere / "data").read_text() == "keep me"


def test_the_cli_refuses_a_strangers_folder_in_one_line(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "a.txt").write_text("x")
    assert main(["render", "dev", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith(f"python -m stack render: {out} is not empty and is not the output of an earlier render")
    assert files_in(out) == {"a.txt"}


def test_the_cli_says_which_files_of_an_earlier_render_it_removed(tmp_path, capsys):
    out = tmp_path / "out"
    first = stack_file(tmp_path, [{"name": "oncall-pager", "pagerduty": {}}], {"oncall-pager": "key"})
    assert main(["render", str(first), "--out", str(out)]) == 0
    second = stack_file(tmp_path, [{"name": "sre-hook", "webhook": {"url": "https://hooks.example.com/a"}}], {})
    capsys.readouterr()
    assert main(["render", str(second), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "; removed 1 file these settings no longer produce" in stdout
    assert f"  removed {out / PAGER}" in stdout


def test_a_rendered_file_replaced_by_a_link_is_rewritten_without_following_the_link(tmp_path, without_pager):
    out = tmp_path / "out"
    write_rendered(without_pager, out)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    rendered = out / "prometheus/etc/prometheus/prometheus.yml"
    rendered.unlink()
    rendered.symlink_to(target)
    write_rendered(without_pager, out)
    assert target.read_text() == "keep me"
    assert not rendered.is_symlink() and rendered.read_text().startswith("# Generated")
