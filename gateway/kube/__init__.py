"""Talking to the Kubernetes API: kubeconfig loading, a small typed REST client, and the one
list+watch cache layer every long-running part reads from."""

from gateway.kube import library

library.install()
