#!/usr/bin/env bash
# Builds a real nginx OCI image layout from Debian's own packages (no registry involved).
# The .debs are cached in $DEB_CACHE (default ~/.cache/skiff/debs): with a warm cache the
# build needs no network. Reproducible for a given set of .debs. Prints the manifest digest.
#
#   image/scripts/make-nginx-oci.sh OUT_DIR [REFERENCE]   (default docker.io/library/nginx:latest)
#
# Layer 1: libc and friends, netbase, busybox-static (a shell for exec/debugging), passwd/group.
# Layer 2: nginx and its libraries, its state and log dirs, logs linked to stdout/stderr.
# Layer 3: the site, using all three whiteout forms: a file (.wh.index.html under
#          /usr/share/nginx/html), a whole directory (/etc/nginx/sites-available) and an opaque
#          directory (/var/www/html).
# Config: Cmd nginx -g "daemon off;", StopSignal SIGQUIT (nginx's graceful stop).
set -euo pipefail

out=${1:?usage: make-nginx-oci.sh OUT_DIR [REFERENCE]}
ref=${2:-docker.io/library/nginx:latest}
cache=${DEB_CACHE:-$HOME/.cache/skiff/debs}

base_pkgs=(base-files libc6 libgcc-s1 netbase busybox-static)
nginx_pkgs=(nginx nginx-common libcrypt1 libpcre2-8-0 libssl3 zlib1g)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=oci-lib.sh
. "$(dirname "$0")/oci-lib.sh"

mkdir -p "$cache"
have() { compgen -G "$cache/${1}_*.deb" > /dev/null; }
missing=()
for p in "${base_pkgs[@]}" "${nginx_pkgs[@]}"; do
  have "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # apt-get download writes into the current directory.
  (cd "$cache" && apt-get download "${missing[@]}")
fi

unpack() {
  local dest=$1
  shift
  mkdir -p "$dest"
  for p in "$@"; do
    local deb
    deb=$(compgen -G "$cache/${p}_*.deb" | sort | tail -1)
    dpkg-deb -x "$deb" "$dest"
  done
}

root1=$work/rootfs1
unpack "$root1" "${base_pkgs[@]}"
mkdir -p "$root1/bin" "$root1/tmp" "$root1/root"
chmod 1777 "$root1/tmp"
ln -sf busybox "$root1/bin/sh"   # busybox-static ships /bin/busybox
cat > "$root1/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat > "$root1/etc/group" <<'GROUP'
root:x:0:
www-data:x:33:
nogroup:x:65534:
GROUP

root2=$work/rootfs2
unpack "$root2" "${nginx_pkgs[@]}"
mkdir -p "$root2/var/lib/nginx" "$root2/var/log/nginx" "$root2/run" "$root2/var/www/html"
ln -s /dev/stdout "$root2/var/log/nginx/access.log"
ln -s /dev/stderr "$root2/var/log/nginx/error.log"
printf '<html><body>debian default page</body></html>\n' > "$root2/var/www/html/index.nginx-debian.html"

root3=$work/rootfs3
mkdir -p "$root3/etc/nginx/conf.d" "$root3/var/www/html" "$root3/usr/share/nginx/html"
: > "$root3/usr/share/nginx/html/.wh.index.html"   # file whiteout
: > "$root3/etc/nginx/.wh.sites-available"        # whole-directory whiteout
: > "$root3/var/www/html/.wh..wh..opq"            # opaque directory
printf '<html><body>hello from skiff nginx</body></html>\n' > "$root3/var/www/html/index.html"
cat > "$root3/etc/nginx/conf.d/default.conf" <<'CONF'
server {
    listen 80 default_server;
    root /var/www/html;
    index index.html;
    location / { try_files $uri $uri/ =404; }
}
CONF

layer1=$(make_layer "$root1" layer1)
layer2=$(make_layer "$root2" layer2)
layer3=$(make_layer "$root3" layer3)
write_image "$ref" \
  '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["nginx","-g","daemon off;"],"StopSignal":"SIGQUIT","WorkingDir":"/","ExposedPorts":{"80/tcp":{}}}' \
  "$layer1" "$layer2" "$layer3"
