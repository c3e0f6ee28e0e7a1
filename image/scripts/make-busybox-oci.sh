#!/usr/bin/env bash
# Builds a busybox OCI image layout from Debian's busybox-static, offline and reproducibly
# (same busybox binary -> same digests). Prints the manifest digest.
#
#   image/scripts/make-busybox-oci.sh OUT_DIR [REFERENCE]   (default docker.io/library/busybox:latest)
#
# Layer 1: /bin/busybox, one relative symlink per applet, /etc/passwd, /etc/group, /tmp.
# Layer 2: /www/index.html. Config: Cmd = busybox httpd in the foreground on port 80.
set -euo pipefail

out=${1:?usage: make-busybox-oci.sh OUT_DIR [REFERENCE]}
ref=${2:-docker.io/library/busybox:latest}

busybox=""
for candidate in /usr/bin/busybox /bin/busybox; do
  [ -x "$candidate" ] && busybox=$candidate && break
done
if [ -z "$busybox" ]; then
  echo "busybox is missing: install Debian's busybox-static (scripts/install-deps.sh)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=oci-lib.sh
. "$(dirname "$0")/oci-lib.sh"

root1=$work/rootfs1
mkdir -p "$root1/bin" "$root1/etc" "$root1/tmp"
chmod 1777 "$root1/tmp"
cp "$busybox" "$root1/bin/busybox"
chmod 0755 "$root1/bin/busybox"
for applet in $("$busybox" --list); do
  # Relative links (busybox --install -s would write absolute host paths); never over itself.
  [ "$applet" = busybox ] || ln -s busybox "$root1/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root1/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' > "$root1/etc/group"

root2=$work/rootfs2
mkdir -p "$root2/www"
printf '<html><body>hello from skiff busybox</body></html>\n' > "$root2/www/index.html"

layer1=$(make_layer "$root1" layer1)
layer2=$(make_layer "$root2" layer2)
write_image "$ref" \
  '{"Env":["PATH=/bin"],"Cmd":["/bin/httpd","-f","-v","-p","80","-h","/www"],"WorkingDir":"/","ExposedPorts":{"80/tcp":{}}}' \
  "$layer1" "$layer2"
