"""Deployment files, checked without a Docker engine: docker-compose.yml
parses and names only real settings and files; the Dockerfile builds from
the same package list and flags as the README's set-up, and its final image
holds every shared library the binaries need."""

import re
import shutil
import subprocess

import yaml

from otpflow_test import BUILD, REPO


def config_names():
    doc = subprocess.run([str(BUILD / "otpflowctl"), "config", "--markdown"],
                         capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^\| `([A-Z0-9_]+)`", doc, re.M))


def test_compose_parses_and_names_real_settings():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    names = config_names()
    services = compose["services"]
    assert {"kafka", "postgres", "setup", "ingest", "worker",
            "sender"} <= set(services)
    for name, svc in services.items():
        for var in (svc.get("environment") or {}):
            if var.startswith(("OTPFLOW_", "AUTH_")) and \
                    not var.startswith("OTPFLOW_KAFKA_"):
                assert var in names, f"{name}: {var} is not a setting"
            if var.startswith("OTPFLOW_KAFKA_") and \
                    var != "OTPFLOW_KAFKA_BOOTSTRAP_SERVERS":
                # pass-through: must be a librdkafka property name
                assert re.fullmatch(r"OTPFLOW_KAFKA_[A-Z0-9_]+", var)
        if "build" in svc:
            context = REPO / (svc["build"] if isinstance(svc["build"], str)
                              else svc["build"]["context"])
            assert (context / "Dockerfile").is_file()
        for cmd in [svc.get("command")]:
            text = " ".join(cmd) if isinstance(cmd, list) else (cmd or "")
            for exe in re.findall(r"\b(otpflow(?:ctl|-[a-z]+))\b", text):
                assert (BUILD / exe).is_file(), f"{name}: {exe} unknown"
    assert compose["services"]["worker"].get("container_name") is None, \
        "a container_name would forbid --scale"


def test_dockerfile_uses_the_readme_build():
    docker = (REPO / "Dockerfile").read_text()
    assert "scripts/install-deps.sh --build-only" in docker
    assert "scripts/packages-build.txt" in docker
    assert "scripts/packages-runtime.txt" in docker
    assert "-G Ninja" in docker and "-G Ninja" in \
        (REPO / "scripts" / "build.sh").read_text()
    assert re.search(r"^USER (?!root)\w+", docker, re.M), "non-root user"
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", docker, re.M):
        for path in src.split():
            assert (REPO / path).exists(), f"COPY {path}: no such file"


def package_of(path):
    out = subprocess.run(["dpkg", "-S", path], capture_output=True,
                         text=True).stdout
    if not out:  # /lib is a symlink to /usr/lib on merged-/usr systems
        alt = path.replace("/usr/lib/", "/lib/") if path.startswith(
            "/usr/lib/") else path.replace("/lib/", "/usr/lib/", 1)
        out = subprocess.run(["dpkg", "-S", alt], capture_output=True,
                             text=True).stdout
    return out.split(":")[0]


def test_runtime_image_has_every_linked_library():
    runtime = {line.split()[0] for line in
               (REPO / "scripts" / "packages-runtime.txt").read_text()
               .splitlines() if line.strip() and not line.startswith("#")}
    base = {"libc6"}  # in debian:bookworm-slim already
    for exe in ("otpflow-ingest", "otpflow-worker", "otpflow-sender",
                "otpflowctl"):
        dyn = subprocess.run(["readelf", "-d", str(BUILD / exe)],
                             capture_output=True, text=True, check=True)
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", dyn.stdout)
        ldd = subprocess.run(["ldd", str(BUILD / exe)], capture_output=True,
                             text=True, check=True).stdout
        resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for lib in needed:
            pkg = package_of(resolved[lib])
            assert pkg in runtime | base, f"{exe} needs {lib} from {pkg}"


def test_docs_name_only_real_settings_and_commands():
    names = config_names()
    script_vars = {"OTPFLOW_STATE_DIR", "OTPFLOW_CACHE_DIR", "OTPFLOW_PG_PORT",
                   "OTPFLOW_PG_BIN", "OTPFLOW_BUILD_DIR"}
    # The 3-node test cluster's own settings (scripts/kafka-cluster.sh).
    cluster_script = (REPO / "scripts" / "kafka-cluster.sh").read_text()
    usage = subprocess.run([str(BUILD / "otpflowctl"), "--help"],
                           capture_output=True, text=True).stdout
    commands = set(re.findall(r"^  ([a-z]+) ", usage, re.M))
    for doc in ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in
                                     (REPO / "docs").glob("*.md"))]:
        text = (REPO / doc).read_text()
        for var in set(re.findall(r"\b((?:OTPFLOW|AUTH)_[A-Z0-9_]+)", text)):
            if var.startswith(("OTPFLOW_KAFKA_", "OTPFLOW_BROKER_",
                               "OTPFLOW_TEST_")) or var in script_vars:
                continue
            if var.startswith("OTPFLOW_CLUSTER_"):
                assert var in cluster_script, \
                    f"{doc} names {var}, not read by scripts/kafka-cluster.sh"
                continue
            assert var in names, f"{doc} names {var}, not a setting"
        for cmd in set(re.findall(r"(?:`|^)otpflowctl ([a-z]+)", text, re.M)):
            assert cmd in commands, f"{doc} names otpflowctl {cmd}"


def tracked_files():
    """The files of the repository (git's list; every file below REPO
    outside build and state folders when this is not a git checkout)."""
    proc = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"],
                          capture_output=True)
    if proc.returncode == 0 and proc.stdout:
        return [REPO / name for name in
                proc.stdout.decode().split("\0") if name]
    skip = re.compile(r"^(\.|build)")
    return [p for p in REPO.rglob("*") if p.is_file() and not any(
        skip.match(part) for part in p.relative_to(REPO).parts)]


def api_sections():
    """The section numbers of docs/api.md ("1", "1.2", ...)."""
    text = (REPO / "docs" / "api.md").read_text()
    return set(re.findall(r"^#+ (\d+(?:\.\d+)*)\.? ", text, re.M))


def test_the_repository_documents_itself():
    """Nothing points at documents outside the repository, and every
    "docs/api.md §N" names a section docs/api.md has."""
    # Spelled in pieces, so that this file does not match itself.
    outside = ["SPEC" + ".md", "TARGETS" + ".md", "STYLE" + ".md",
               "../" + "shared", "SPEC" + " §", "SPEC" + " section"]
    sections = api_sections()
    assert {"1", "1.1", "1.2", "1.8", "2", "2.1", "2.2", "2.3", "3", "4",
            "5", "6", "7", "9"} <= sections, sorted(sections)
    cite = re.compile(r"docs/api\.md §(\d+(?:\.\d+)*)")
    files = tracked_files()
    assert len(files) > 100
    bad, cited = [], 0
    for path in files:
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary (corpus files, plots)
        name = path.relative_to(REPO).as_posix()
        bad += [f"{name}: {word}" for word in outside if word in text]
        for number in cite.findall(text):
            number = number.rstrip(".")
            cited += 1
            if number not in sections:
                bad.append(f"{name}: docs/api.md §{number} does not exist")
    assert not bad, bad
    assert cited > 0
    # Inside docs/api.md a bare "§N" is a section of its own too.
    api = (REPO / "docs" / "api.md").read_text()
    missing = {n for n in re.findall(r"§(\d+(?:\.\d+)*)", api)
               if n.rstrip(".") not in sections}
    assert not missing, missing


def test_style_check_fails_on_each_kind_of_violation(tmp_path):
    """scripts/check-style.sh (run by scripts/test.sh, so by CI) fails on an
    unformatted file, a banned function and a file over the size budget,
    naming each, and passes the tree itself."""
    assert subprocess.run([str(REPO / "scripts" / "check-style.sh")],
                          capture_output=True, text=True,
                          timeout=300).returncode == 0
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "common").mkdir()
    shutil.copy(REPO / "scripts" / "check-style.sh", repo / "scripts")
    shutil.copy(REPO / ".clang-format", repo)
    (repo / "common" / "ugly.c").write_text("int  f( void ){return 1;}\n")
    (repo / "common" / "banned.c").write_text(
        "#include <stdlib.h>\n\nint g(const char *s)\n{\n"
        "\treturn atoi(s);\n}\n")
    (repo / "common" / "long.c").write_text(
        "/* long */\n" + "".join(f"int v{i};\n" for i in range(801)))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    proc = subprocess.run([str(repo / "scripts" / "check-style.sh")],
                          cwd=repo, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "common/ugly.c: not formatted" in proc.stdout
    assert "common/banned.c:5:" in proc.stdout and "banned" in proc.stdout
    assert "common/long.c: 802 lines" in proc.stdout
