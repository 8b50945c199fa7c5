/* The installer's side of the agent protocol (common/proto.h) over any byte stream: an
 * SSH channel in a run, a socketpair in tests. Every call sends one request and reads
 * its answer; an agent ERROR becomes -errno with the agent's message in err. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config-apply.h"
#include "error.h"
#include "hosts-block.h"
#include "kv.h"
#include "proto.h"

struct agent_client;

int agent_client_new(struct proto_io io, struct agent_client **ret);
struct agent_client *agent_client_free(struct agent_client *ac);

int agent_client_hello(struct agent_client *ac, char **ret_agent_version, struct errbuf *err);
int agent_client_facts(struct agent_client *ac, char **ret_yaml, struct errbuf *err);

/* ret_have[i] tells whether the host holds digests[i] (with that size). */
int agent_client_layers(struct agent_client *ac, char *const *digests, const uint64_t *sizes,
			size_t n, bool *ret_have, struct errbuf *err);

/* Streams a layer blob from fd (size bytes) in PROTO_DATA_CHUNK frames; the agent
 * verifies it on arrival. progress (optional) gets the bytes sent so far. */
typedef void (*agent_progress_fn)(void *data, uint64_t sent, uint64_t total);
int agent_client_send_layer(struct agent_client *ac, const char *digest, uint64_t size, int fd,
			    agent_progress_fn progress, void *data, struct errbuf *err);
/* The same from rd: it fills buf with up to n bytes (fewer is fine), returns how many,
 * or -errno with err set; 0 before size bytes is a short layer. */
typedef ssize_t (*agent_read_fn)(void *data, void *buf, size_t n, struct errbuf *err);
int agent_client_send_layer_from(struct agent_client *ac, const char *digest, uint64_t size,
				 agent_read_fn rd, void *rd_data, agent_progress_fn progress,
				 void *data, struct errbuf *err);

/* A layer that failed assembly by its own fault (fields of the agent's reply, never parsed
 * from its text): LAYER_FAULT_CORRUPT, the host's copy did not match its digest and was
 * dropped (sending it again helps); LAYER_FAULT_INVALID, it matches but its content is
 * refused (the image is wrong: sending it again cannot help). digest is malloc'd. */
struct agent_layer_fault {
	int fault; /* 0: none */
	char *digest;
};

/* Assembles the cluster's rootfs from the host's cached layers; image (the layers' image)
 * is for messages: a faulty layer is reported as "invalid layer D of image X: reason".
 * ret_fault (optional) names the faulty layer, if that is why it failed. */
int agent_client_assemble(struct agent_client *ac, const char *cluster, const char *image,
			  char *const *digests, size_t n, char **ret_detail,
			  struct agent_layer_fault *ret_fault, struct errbuf *err);

struct agent_exit {
	int exit_code; /* -1 when killed by a signal */
	int signal;
	bool timed_out;
};
typedef void (*agent_output_fn)(void *data, int stream, const char *buf, size_t n);
int agent_client_exec(struct agent_client *ac, const char *command, const char *cwd,
		      const struct kv *env, size_t nenv, unsigned timeout_s, agent_output_fn out,
		      void *data, struct agent_exit *ret, struct errbuf *err);

/* Renders templates, puts bin/ on PATH, installs the CRI and the units (agent/setup.h);
 * flags: PROTO_SETUP_*. */
int agent_client_setup(struct agent_client *ac, const char *cluster, const struct kv *env,
		       size_t nenv, uint32_t flags, char **ret_detail, struct errbuf *err);

/* Applies a Config document to the cluster's rootfs, which this session must have
 * assembled (ASSEMBLE) first; before SETUP, so the templates render over it. */
int agent_client_config(struct agent_client *ac, const char *cluster,
			const struct config_doc *doc, struct errbuf *err);

/* Imports the archive images/ARCHIVE of the cluster's rootfs into its registry storage
 * (data/CLUSTER/registry, beside the rootfs); ret_detail: "N images: NAME... (W new blobs,
 * K kept)"; ret_sources (may be NULL): the registry hosts the images were named under
 * (HOST[:PORT], each once, *ret_nsources of them; the array and each string to free). */
int agent_client_registry_import(struct agent_client *ac, const char *cluster,
				 const char *archive, char **ret_detail, char ***ret_sources,
				 size_t *ret_nsources, struct errbuf *err);
/* Writes the cluster's block of /etc/hosts (entries[i].ip → .name), the mirror's
 * containerd hosts.toml ("NAME:PORT") and one per upstream registry that points at it;
 * after SETUP. flags: PROTO_HOSTS_*. */
int agent_client_hosts(struct agent_client *ac, const char *cluster,
		       const struct hosts_entry *entries, size_t n, const char *mirror,
		       const char *const *upstreams, size_t nup, uint32_t flags,
		       char **ret_detail, struct errbuf *err);

/* Writes a kubeadm config (data, a secret: never logged) as data/CLUSTER/NAME, 0600, on the
 * host; after ASSEMBLE. ret_path: where the agent wrote it. */
int agent_client_kubeadm_config(struct agent_client *ac, const char *cluster, const char *name,
				const char *data, char **ret_path, struct errbuf *err);

/* Takes the host's lock (ROOT/lock, agent/host-lock.h) for the rest of the session, for
 * `cirun COMMAND` of cluster from owner (the control machine's host name) pid; flags:
 * PROTO_LOCK_FORCE breaks a stale lock. ret_detail: "" or what was broken. -EBUSY (held)
 * and -ESTALE (stale) come with the agent's message naming the holder. */
int agent_client_lock(struct agent_client *ac, const char *cluster, const char *command,
		      const char *owner, uint32_t pid, uint32_t flags, char **ret_detail,
		      struct errbuf *err);

/* Takes the cluster off the host (agent/clean.h): its units, the paths of its install
 * record, its /etc/hosts block, data/CLUSTER; ret_detail: what was done. */
int agent_client_clean(struct agent_client *ac, const char *cluster, char **ret_detail,
		       struct errbuf *err);
/* The host's step journal of cluster (common/journal.h), as text to parse (hostile):
 * JOURNAL_READ; JOURNAL_APPEND with one record (line, no newline), answered once it is on
 * the host's disk. *ret_text: the journal (after the append). */
int agent_client_journal_read(struct agent_client *ac, const char *cluster, char **ret_text,
			      struct errbuf *err);
int agent_client_journal_append(struct agent_client *ac, const char *cluster, const char *line,
				char **ret_text, struct errbuf *err);

int agent_client_bye(struct agent_client *ac, struct errbuf *err);
