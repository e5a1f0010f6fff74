/*
 * serve_layers.c - the module layer operations of `pysandbox serve`:
 * layer_list for every client; layer_create, layer_install and
 * layer_remove only on a server started with --layer-admin, since a client
 * that changes a layer changes what every execution naming it imports.
 * An install answers when it is done; the client's other requests wait.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/serve.h"

bool serve_is_layer_op(const char *op) {
    return strcmp(op, "layer_list") == 0 || strcmp(op, "layer_create") == 0 ||
           strcmp(op, "layer_install") == 0 || strcmp(op, "layer_remove") == 0;
}

/* A library refusal as a fault: bad input is the client's, the rest ours. */
static int api_fault(struct cli_fault *f, const char *field, psb_status st, const psb_error *err) {
    return cli_fault_set(f, st == PSB_EINVAL || st == PSB_EPOLICY ? "invalid_value" : "internal",
                         field, "%s", err->message[0] ? err->message : psb_status_str(st));
}

/* The install's limits (timeout, memory_mb) into fresh options. NULL with *f set. */
static psb_exec_options *install_options(const json_t *req, struct cli_fault *f) {
    psb_error err = {PSB_OK, 0, ""};
    json_t *t = json_object_get(req, "timeout"), *m = json_object_get(req, "memory_mb");
    if (t && (!json_is_number(t) || json_number_value(t) < 0.001 || json_number_value(t) > 86400)) {
        cli_fault_set(f, "invalid_value", "timeout", "must be from 0.001 to 86400 seconds");
        return NULL;
    }
    if (m && (!json_is_integer(m) || json_integer_value(m) <= 0)) {
        cli_fault_set(f, "invalid_value", "memory_mb", "must be a positive whole number");
        return NULL;
    }
    psb_exec_options *o = psb_exec_options_new(&err);
    psb_status st = o ? PSB_OK : PSB_ENOMEM;
    const char *field = t ? "timeout" : "";
    if (!st && t)
        st = psb_exec_options_set_timeout_ms(o, (uint64_t)(json_number_value(t) * 1000.0 + 0.5),
                                             &err);
    if (!st && m && (field = "memory_mb"))
        st = psb_exec_options_set_memory_limit_mib(o, (uint64_t)json_integer_value(m), &err);
    if (st) {
        api_fault(f, field, st, &err);
        psb_exec_options_free(o);
        return NULL;
    }
    return o;
}

/* layer_install: {"layer", "sources": [...], "index_url"?, "timeout"?, "memory_mb"?}. */
static int install(struct serve_conn *c, json_t *req, json_t *id, const char *name,
                   struct cli_fault *f) {
    json_t *sources = json_object_get(req, "sources"), *url = json_object_get(req, "index_url");
    if (!json_is_array(sources) || json_array_size(sources) == 0 || json_array_size(sources) > 64)
        return cli_fault_set(f, "wrong_type", "sources",
                             "must be an array of 1 to 64 paths or requirements");
    if (url && !json_is_string(url))
        return cli_fault_set(f, "wrong_type", "index_url", "must be a string");
    const char *list[64];
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s) {
        if (!(list[i] = json_string_value(s)))
            return cli_fault_set(f, "wrong_type", "sources", "must hold strings only");
    }
    psb_exec_options *o = install_options(req, f);
    if (!o)
        return -1;
    psb_error err = {PSB_OK, 0, ""};
    psb_outcome *out = NULL;
    psb_status st = psb_layer_install(c->srv->config, name, list, json_array_size(sources),
                                      json_string_value(url), o, &out, &err);
    psb_exec_options_free(o);
    if (st)
        return api_fault(f, "sources", st, &err);
    /* Answered as a run is: {"id", "outcome"}. */
    json_t *outcome = json_loads(psb_outcome_json(out), 0, NULL);
    psb_outcome_free(out);
    if (!outcome)
        return cli_fault_set(f, "internal", "", "out of memory");
    cli_out_json(&c->out, json_pack("{s:O,s:o}", "id", id, "outcome", outcome));
    return 0;
}

int serve_layer_op(struct serve_conn *c, json_t *req, json_t *id, const char *op,
                   struct cli_fault *f) {
    static const char *const plain[] = {"id", "op", NULL};
    static const char *const named[] = {"id", "op", "layer", NULL};
    static const char *const installing[] = {"id",        "op",      "layer",     "sources",
                                             "index_url", "timeout", "memory_mb", NULL};
    bool listing = strcmp(op, "layer_list") == 0, inst = strcmp(op, "layer_install") == 0;
    if (serve_only_fields(req, listing ? plain : inst ? installing : named, f) != 0)
        return -1;
    psb_error err = {PSB_OK, 0, ""};
    if (listing) {
        char *text = psb_layer_list_json(c->srv->config, &err);
        json_t *layers = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (!layers)
            return api_fault(f, "", err.code ? err.code : PSB_ENOMEM, &err);
        cli_out_json(&c->out, json_pack("{s:O,s:o}", "id", id, "layers", layers));
        return 0;
    }
    if (!c->srv->layer_admin)
        return cli_fault_set(f, "forbidden", "op",
                             "changes a module layer: this server was not started with "
                             "--layer-admin");
    const char *name = json_string_value(json_object_get(req, "layer"));
    if (!name)
        return cli_fault_set(f, json_object_get(req, "layer") ? "wrong_type" : "missing_field",
                             "layer", "is required: a module layer's name (a string)");
    if (inst)
        return install(c, req, id, name, f);
    psb_status st = strcmp(op, "layer_create") == 0 ? psb_layer_create(c->srv->config, name, &err)
                                                    : psb_layer_remove(c->srv->config, name, &err);
    if (st)
        return api_fault(f, "layer", st, &err);
    cli_out_json(&c->out, json_pack("{s:O,s:b}", "id", id, "ok", 1));
    return 0;
}
