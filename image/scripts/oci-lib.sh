# Shared by the make-*-oci.sh scripts: reproducible layers and an OCI image layout.
# Source it after setting: out (layout dir), work (scratch dir). Needs GNU tar, gzip, sha256sum.

mtime=1700000000

# Writes a blob into $out and prints "<hex> <size>".
put_blob() {
  local file=$1 hex size
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  size=$(stat -c %s "$file")
  mkdir -p "$out/blobs/sha256"
  cp "$file" "$out/blobs/sha256/$hex"
  echo "$hex $size"
}

# Tars a rootfs (sorted, no ./ prefix, numeric owners, fixed mtimes: same input, same
# digest), gzips it and stores it; prints "<diff_id hex> <blob hex> <blob size>".
make_layer() {
  local dir=$1 name=$2 diff_id
  # shellcheck disable=SC2046 # the top-level names, sorted, one argument each
  (cd "$dir" && tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$mtime" -cf "$work/$name.tar" $(LC_ALL=C ls -A))
  gzip -n -9 -c "$work/$name.tar" > "$work/$name.tar.gz"
  diff_id=$(sha256sum "$work/$name.tar" | cut -d' ' -f1)
  echo "$diff_id $(put_blob "$work/$name.tar.gz")"
}

# write_image REFERENCE CONFIG_JSON LAYER... where CONFIG_JSON is the image config's "config"
# object and each LAYER is "<diff_id> <blob> <size>" from make_layer. Prints the manifest digest.
write_image() {
  local ref=$1 config=$2 diff_ids="" descs="" sep="" diff blob size
  shift 2
  for layer in "$@"; do
    read -r diff blob size <<< "$layer"
    diff_ids="$diff_ids$sep\"sha256:$diff\""
    descs="$descs$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$blob\",\"size\":$size}"
    sep=","
  done
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$config" "$diff_ids" > "$work/config.json"
  local config_hex config_size manifest_hex manifest_size
  read -r config_hex config_size < <(put_blob "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$config_hex" "$config_size" "$descs" > "$work/manifest.json"
  read -r manifest_hex manifest_size < <(put_blob "$work/manifest.json")
  printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
  # ref.name is the tag (what `skopeo copy oci:DIR:TAG` reads); containerd's annotation the
  # full reference (what `skiff image import` uses).
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"%s","io.containerd.image.name":"%s"}}]}' \
    "$manifest_hex" "$manifest_size" "${ref##*:}" "$ref" > "$out/index.json"
  echo "sha256:$manifest_hex"
}
