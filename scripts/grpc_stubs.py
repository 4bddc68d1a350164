"""Generate the gRPC stubs of RocketMQ 5's `apache.rocketmq.v2` protocol into
orbitmq/proxy/apis/ (not committed).

The .proto files are the ones RocketMQ publishes with its official Node.js 5.x client
(npm `rocketmq-client-nodejs`, proto/apache/rocketmq/v2/), fetched with `npm pack` and
compiled with grpcio-tools. Generated modules import each other as
`apache.rocketmq.v2.*`; that import is rewritten to a package-relative one so the
stubs live inside orbitmq. Run by scripts/setup.sh, and by setup.py when they are
missing; does nothing when the stubs of this version are already there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NPM_PACKAGE = "rocketmq-client-nodejs"
NPM_VERSION = "1.0.8"
PROTOS = ("definition.proto", "service.proto")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "orbitmq" / "proxy" / "apis"
STAMP = OUT / f".generated-from-{NPM_PACKAGE}-{NPM_VERSION}"
IMPORT = re.compile(r"^from apache\.rocketmq\.v2 import ", re.MULTILINE)


def fetch_protos(workdir: Path) -> Path:
    """The package's proto/ folder, unpacked into `workdir`."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "grpc_stubs: npm is needed to fetch RocketMQ's .proto files "
            f"({NPM_PACKAGE}@{NPM_VERSION}); install Debian's npm package"
        )
    packed = subprocess.run(
        [npm, "pack", "--silent", f"{NPM_PACKAGE}@{NPM_VERSION}"],
        cwd=workdir, check=True, capture_output=True, text=True,
    )  # fmt: skip
    tarball = workdir / packed.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.name.endswith(".proto")]
        archive.extractall(workdir, members=members, filter="data")
    return workdir / "package" / "proto"


def generate(proto_root: Path, out: Path) -> None:
    from grpc_tools import protoc  # the build extra

    sources = [f"apache/rocketmq/v2/{name}" for name in PROTOS]
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    code = protoc.main(
        ["protoc", f"-I{proto_root}", f"-I{include}", f"--python_out={out}",
         f"--grpc_python_out={out}", f"--pyi_out={out}", *sources]
    )  # fmt: skip
    if code != 0:
        raise SystemExit(f"grpc_stubs: protoc failed ({code}) on {sources}")


def main() -> int:
    if STAMP.exists():
        return 0
    with tempfile.TemporaryDirectory(prefix="orbitmq-protos-") as tmp:
        workdir = Path(tmp)
        proto_root = fetch_protos(workdir)
        generated = workdir / "out"
        generated.mkdir()
        generate(proto_root, generated)
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        for path in sorted((generated / "apache" / "rocketmq" / "v2").iterdir()):
            (OUT / path.name).write_text(IMPORT.sub("from . import ", path.read_text()))
    (OUT / "__init__.py").write_text(
        f'"""RocketMQ 5 gRPC stubs generated from {NPM_PACKAGE}@{NPM_VERSION}\'s .proto '
        'files by scripts/grpc_stubs.py."""\n'
    )
    STAMP.touch()
    print(f"grpc_stubs: generated {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
