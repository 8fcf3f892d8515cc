{
  "targets": [
    {
      "target_name": "vmdesk_libvirt",
      "sources": ["connection.cc", "volume-streams.cc", "metrics.cc", "addon.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "<!@(pkg-config --cflags libvirt)"],
      "libraries": ["<!@(pkg-config --libs libvirt)"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
