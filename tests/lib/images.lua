-- Container images without a registry, for the specs that run real engines:
-- a root filesystem of busybox-static and its applets, as a plain tar
-- (docker/podman import) or as an OCI image layout archive (ctr images
-- import, which wants a manifest). Nothing is pulled.
local testenv = require "testenv"
local q = testenv.quote

local images = {}

images.BUSYBOX = "/bin/busybox"
local APPLETS = { "sh", "httpd", "nc", "sleep" }

--- images.rootfs() -> a directory (removed by testenv.cleanup) holding
--- bin/busybox, its applets and www/index.html.
function images.rootfs()
  local root = testenv.tmpdir()
  testenv.sh_ok(("mkdir -p %s/bin %s/www && cp %s %s/bin/busybox && echo hello > %s/www/index.html"):format(
    root, root, images.BUSYBOX, root, root))
  for _, applet in ipairs(APPLETS) do
    testenv.sh_ok(("ln -s busybox %s/bin/%s"):format(root, applet))
  end
  return root
end

local function sha256(path)
  return testenv.sh_ok("sha256sum " .. q(path)).stdout:match("^(%x+)")
end

local function size(path)
  return tonumber(testenv.sh_ok("stat -c %s " .. q(path)).stdout:match("%d+"))
end

-- Moves file into the layout's blobs by its digest: "sha256:...", size.
local function blob(layout, file)
  local digest, n = sha256(file), size(file)
  testenv.sh_ok(("mv %s %s/blobs/sha256/%s"):format(q(file), q(layout), digest))
  return "sha256:" .. digest, n
end

--- images.oci_archive(rootfs, ref) -> the path of an OCI image layout tar of
--- rootfs (one uncompressed layer) named ref ("docker.io/library/x:1").
function images.oci_archive(rootfs, ref)
  local dir = testenv.tmpdir()
  local layout = dir .. "/oci"
  testenv.sh_ok(("mkdir -p %s/blobs/sha256 && tar -C %s -cf %s/layer.tar ."):format(q(layout), q(rootfs), q(dir)))
  local layer, layer_size = blob(layout, dir .. "/layer.tar")
  testenv.write_file(dir .. "/config", ('{"architecture":"amd64","os":"linux","config":{},'
    .. '"rootfs":{"type":"layers","diff_ids":["%s"]}}'):format(layer))
  local config, config_size = blob(layout, dir .. "/config")
  testenv.write_file(dir .. "/manifest", ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    .. '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},'
    .. '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}')
    :format(config, config_size, layer, layer_size))
  local manifest, manifest_size = blob(layout, dir .. "/manifest")
  testenv.write_file(layout .. "/index.json", ('{"schemaVersion":2,"manifests":[{"mediaType":'
    .. '"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,'
    .. '"annotations":{"io.containerd.image.name":"%s"}}]}'):format(manifest, manifest_size, ref))
  testenv.write_file(layout .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  testenv.sh_ok(("tar -C %s -cf %s/image.tar ."):format(q(layout), q(dir)))
  return dir .. "/image.tar"
end

return images
