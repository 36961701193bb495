module talos-proxmox-cdktf/judges/kubernetes/start

go 1.25.0
