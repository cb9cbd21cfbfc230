"""A stand-in Kubernetes API server on 127.0.0.1, just enough for `helm install` to run.

helm-sdkpy exposes Helm's install action but no `helm template` (client-only dry run): Helm then
checks that the cluster is reachable, discovers its API groups, renders the chart, maps every
manifest to an API resource and creates the objects. This stub answers those calls from memory:
/version, discovery (/api, /apis, /api/v1, /apis/<group>/<version>) for the kinds the chart uses,
and create/get/list/replace/delete of any object of those kinds. Releases are kept by Helm's own
memory storage driver (HELM_DRIVER=memory), so release records never reach the stub.

It validates nothing itself (tests/deploy/validate.py runs kubernetes-validate on the manifests);
it only lets Helm's real template engine and resource builder run without a cluster.
"""
import http.server
import json
import threading
import urllib.parse
import uuid

# (group, version) -> [(resource, kind, namespaced)]
RESOURCES = {
    ("", "v1"): [
        ("configmaps", "ConfigMap", True),
        ("namespaces", "Namespace", False),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ("pods", "Pod", True),
        ("secrets", "Secret", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("services", "Service", True),
    ],
    ("apps", "v1"): [("deployments", "Deployment", True)],
    ("autoscaling", "v2"): [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    ("policy", "v1"): [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    ("monitoring.coreos.com", "v1"): [("servicemonitors", "ServiceMonitor", True)],
}


class KubeStub:
    """Serves the stub API on 127.0.0.1 from a background thread; `created` lists every object
    Helm created, in order, as (apiVersion, kind, namespace, name)."""

    def __init__(self, git_version="v1.34.0"):
        self.git_version = git_version
        self.objects = {}
        self.created = []
        self.lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                code, obj = stub.handle(self.command, self.path, body)
                self._send(code, obj)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, namespace="default"):
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: stub, cluster: {{server: 'http://127.0.0.1:{self.port}'}}}}]\n"
            "users: [{name: stub, user: {}}]\n"
            f"contexts: [{{name: stub, context: {{cluster: stub, user: stub, namespace: {namespace}}}}}]\n"
            "current-context: stub\n"
        )

    @staticmethod
    def _not_found(what):
        return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                     "reason": "NotFound", "code": 404, "message": f"{what} not found"}

    def handle(self, method, raw_path, body):
        url = urllib.parse.urlparse(raw_path)
        path = url.path.rstrip("/")
        query = urllib.parse.parse_qs(url.query)
        if path == "/version":
            major, minor = self.git_version.lstrip("v").split(".")[:2]
            return 200, {"major": major, "minor": minor, "gitVersion": self.git_version,
                         "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                       "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                      for (g, v) in RESOURCES if g]
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._not_found(path)
        if (group, version) not in RESOURCES:
            return self._not_found(path)
        group_version = f"{group}/{version}" if group else version
        kinds = {r: k for r, k, _ in RESOURCES[(group, version)]}
        if not rest:
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                         "resources": [{"name": r, "singularName": k.lower(), "namespaced": ns, "kind": k,
                                        "verbs": ["create", "delete", "get", "list", "patch", "update",
                                                  "watch"]}
                                       for r, k, ns in RESOURCES[(group, version)]]}
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
        if resource not in kinds:
            return self._not_found(path)
        with self.lock:
            collection = self.objects.setdefault((group_version, resource, namespace), {})
            if method == "GET" and name is None:
                items = list(collection.values())
                for term in filter(None, query.get("labelSelector", [""])[0].split(",")):
                    key, _, value = term.partition("=")
                    items = [o for o in items if o["metadata"].get("labels", {}).get(key) == value]
                return 200, {"kind": kinds[resource] + "List", "apiVersion": group_version,
                             "metadata": {"resourceVersion": "1"}, "items": items}
            if method == "GET":
                return (200, collection[name]) if name in collection else self._not_found(name)
            if method in ("POST", "PUT"):
                try:
                    obj = json.loads(body)
                except ValueError:  # e.g. protobuf, which typed clients send for built-in kinds
                    return 415, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 415,
                                 "message": "the stub understands JSON bodies only"}
                meta = obj.setdefault("metadata", {})
                meta.setdefault("uid", str(uuid.uuid4()))
                meta["resourceVersion"] = str(len(self.created) + 1)
                meta.setdefault("creationTimestamp", "2025-01-01T00:00:00Z")
                if namespace:
                    meta["namespace"] = namespace
                key = meta.get("name") or name
                if method == "POST":
                    self.created.append((obj.get("apiVersion"), obj.get("kind"), namespace, key))
                collection[key] = obj
                return (201 if method == "POST" else 200), obj
            if method == "DELETE":
                collection.pop(name, None)
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        return 405, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 405,
                     "message": f"{method} not supported by the stub"}
