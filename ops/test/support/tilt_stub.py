"""Evaluates a Tiltfile with recording stand-ins for Tilt's built-ins (Tiltfiles are Starlark,
a Python subset) and prints the calls as JSON. Each stand-in has the real built-in's keyword
parameters, so a misspelled or unknown argument fails here as it would in `tilt up`.
Usage: python3 tilt_stub.py <Tiltfile>"""
import json
import sys

calls = []


def recorder(name, params):
    def call(*args, **kwargs):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise TypeError("%s() got unexpected keyword argument(s) %s" % (name, ", ".join(unknown)))
        if len(args) > len(params):
            raise TypeError("%s() takes at most %d positional arguments" % (name, len(params)))
        bound = dict(zip(params, args))
        bound.update(kwargs)
        calls.append({"fn": name, "args": bound})
        return {"fn": name, "args": bound}
    return call


# Parameter lists from Tilt's API reference (docs.tilt.dev/api.html).
BUILTINS = {
    "version_settings": ["check_updates", "constraint"],
    "allow_k8s_contexts": ["contexts"],
    "docker_build": ["ref", "context", "build_args", "dockerfile", "dockerfile_contents", "live_update",
                     "match_in_env_vars", "ignore", "only", "entrypoint", "target", "ssh", "network",
                     "secret", "extra_tag", "container_args", "cache_from", "pull", "platform", "env_file", "extra_hosts"],
    "k8s_yaml": ["yaml", "allow_duplicates"],
    "helm": ["paths", "name", "namespace", "values", "set", "kube_version", "skip_crds"],
    "k8s_resource": ["workload", "new_name", "port_forwards", "extra_pod_selectors", "trigger_mode",
                     "resource_deps", "objects", "auto_init", "pod_readiness", "links", "labels",
                     "discovery_strategy"],
    "local_resource": ["name", "cmd", "deps", "trigger_mode", "resource_deps", "ignore", "auto_init",
                       "serve_cmd", "cmd_bat", "serve_cmd_bat", "allow_parallel", "links", "tags",
                       "env", "serve_env", "readiness_probe", "dir", "serve_dir", "labels"],
    "sync": ["local_path", "remote_path"],
    "run": ["cmd", "trigger", "echo_off"],
    "fall_back_on": ["files"],
    "restart_container": [],
    "link": ["url", "name"],
    "port_forward": ["local_port", "container_port", "name", "link_path", "host"],
    "k8s_kind": ["kind", "api_version", "image_json_path", "image_object", "pod_readiness"],
    "blob": ["input"],
}


class Config:
    """Tilt's `config` module: flags after `--` on the command line (here: argv[2:], e.g. --operator)."""

    def __init__(self, argv):
        self.argv = argv
        self.flags = {}

    def define_bool(self, name, args=False, usage=""):
        self.flags[name] = "bool"

    def parse(self):
        out = {}
        for a in self.argv:
            name = a.lstrip("-")
            if self.flags.get(name) != "bool":
                raise TypeError("unknown flag %s" % a)
            out[name] = True
        return out

env = {name: recorder(name, params) for name, params in BUILTINS.items()}
env.update({"TRIGGER_MODE_AUTO": "auto", "TRIGGER_MODE_MANUAL": "manual", "__name__": "tiltfile", "config": Config(sys.argv[2:])})

with open(sys.argv[1]) as f:
    source = f.read()
exec(compile(source, sys.argv[1], "exec"), env)
print(json.dumps(calls))
