#!/usr/bin/env bash
# Builds a real nginx OCI image layout from Debian's own packages (no registry involved).
# The .debs are cached in CACHE_DIR (default $DEB_CACHE, else ~/.cache/skiff/debs): with a
# warm cache the build needs no network. Reproducible for a given set of .debs. Prints the
# manifest digest.
#
#   image/scripts/make-nginx-oci.sh OUT_DIR [REFERENCE [CACHE_DIR]]
#                                   (REFERENCE default docker.io/library/nginx:latest)
#
# Layer 1: libc and friends, netbase, busybox-static with its applets (a shell and tools for
#          exec/debugging), passwd/group.
# Layer 2: nginx and its libraries, its state and log dirs, logs linked to stdout/stderr.
# Layer 3: the site, using all three whiteout forms: a file (.wh.index.html under
#          /usr/share/nginx/html), a whole directory (/etc/nginx/sites-available) and an opaque
#          directory (/var/www/html).
# Config: Cmd nginx -g "daemon off;", StopSignal SIGQUIT (nginx's graceful stop).
set -euo pipefail

out=${1:?usage: make-nginx-oci.sh OUT_DIR [REFERENCE [CACHE_DIR]]}
ref=${2:-docker.io/library/nginx:latest}
cache=${3:-${DEB_CACHE:-$HOME/.cache/skiff/debs}}

base_pkgs=(base-files libc6 libgcc-s1 netbase busybox-static)
nginx_pkgs=(nginx nginx-common libcrypt1 libpcre2-8-0 libssl3 zlib1g)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=oci-lib.sh
. "$(dirname "$0")/oci-lib.sh"

for tool in apt-get dpkg-deb tar gzip sha256sum; do
  command -v "$tool" > /dev/null || { echo "make-nginx-oci.sh: $tool is missing" >&2; exit 1; }
done
mkdir -p "$cache" || { echo "make-nginx-oci.sh: cannot create the .deb cache $cache" >&2; exit 1; }
have() { compgen -G "$cache/${1}_*.deb" > /dev/null; }
missing=()
for p in "${base_pkgs[@]}" "${nginx_pkgs[@]}"; do
  have "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # apt-get download writes into the current directory; into a scratch one first, so a
  # failed or partial download leaves the cache as it was. As root it would drop privileges
  # to _apt, which cannot write there: keep root (a plain download, nothing installed).
  dl=$(mktemp -d "$cache/.download.XXXXXX")
  if ! (cd "$dl" && apt-get -q -o APT::Sandbox::User=root download "${missing[@]}" >&2); then
    rm -rf "$dl"
    {
      echo "make-nginx-oci.sh: downloading ${missing[*]} into $cache failed."
      echo "  Needs Debian's package index (run apt-get update) and the package registry;"
      echo "  offline, fill $cache with these .debs first (CACHE_DIR argument or DEB_CACHE)."
    } >&2
    exit 1
  fi
  mv "$dl"/*.deb "$cache"/
  rm -rf "$dl"
fi

unpack() {
  local dest=$1
  shift
  mkdir -p "$dest"
  for p in "$@"; do
    local deb
    deb=$(compgen -G "$cache/${p}_*.deb" | sort -V | tail -1)
    dpkg-deb -x "$deb" "$dest" || { echo "make-nginx-oci.sh: unpacking $deb failed" >&2; exit 1; }
  done
}

root1=$work/rootfs1
unpack "$root1" "${base_pkgs[@]}"
mkdir -p "$root1/bin" "$root1/tmp" "$root1/root"
chmod 1777 "$root1/tmp"
# busybox-static ships /bin/busybox: one relative link per applet (sh, cat, ls, ...), so
# `exec POD -- cat /etc/hostname` works as on Debian's own nginx image.
for applet in $("$root1/bin/busybox" --list); do
  [ "$applet" = busybox ] || [ -e "$root1/bin/$applet" ] || ln -s busybox "$root1/bin/$applet"
done
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
