/* The agent's request decoders (common/proto-msg.h), and cirun's of the agent's
 * REGISTRY_IMPORTED, on hostile payloads: the first byte picks the message type, the rest
 * is its payload. A decoder either refuses with
 * -EBADMSG/-E2BIG and a message, or returns a struct whose every field keeps the rules. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "digest.h"
#include "hosts-block.h"
#include "journal.h"
#include "name.h"
#include "proto-msg.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int r, const struct errbuf *err)
{
	assert(r == -EBADMSG || r == -E2BIG);
	assert(err->code == r && err->msg[0]);
}

static void check_env(const struct kv *env, uint32_t n)
{
	assert(n <= MSG_MAX_ENV);
	for (uint32_t i = 0; i < n; i++) {
		assert(shell_identifier_valid(env[i].key, strlen(env[i].key)));
		assert(strlen(env[i].value) <= MSG_MAX_ENV_VALUE);
	}
}

static void decode(uint8_t type, const uint8_t *p, size_t n)
{
	struct errbuf err = ERRBUF_INIT;
	int r;

	switch (type) {
	case MSG_HELLO: {
		struct msg_hello m;
		if ((r = msg_hello_decode(p, n, &m, &err)) < 0)
			break;
		assert(strlen(m.client) <= MSG_MAX_VERSION);
		msg_hello_release(&m);
		return;
	}
	case MSG_LAYERS_REQ: {
		struct msg_layers_req m;
		if ((r = msg_layers_req_decode(p, n, &m, &err)) < 0)
			break;
		assert(m.n <= MSG_MAX_LAYERS);
		for (uint32_t i = 0; i < m.n; i++)
			assert(digest_ref_valid(m.layers[i].digest) && m.layers[i].size <= MSG_MAX_LAYER_SIZE);
		msg_layers_req_release(&m);
		return;
	}
	case MSG_LAYER_BEGIN: {
		struct msg_layer_begin m;
		if ((r = msg_layer_begin_decode(p, n, &m, &err)) < 0)
			break;
		assert(digest_ref_valid(m.digest) && m.size <= MSG_MAX_LAYER_SIZE);
		msg_layer_begin_release(&m);
		return;
	}
	case MSG_LAYER_DATA: {
		struct msg_layer_data m;
		if ((r = msg_layer_data_decode(p, n, &m, &err)) < 0)
			break;
		assert(m.len <= PROTO_DATA_CHUNK && m.len + 4 == n);
		return;
	}
	case MSG_ASSEMBLE: {
		struct msg_assemble m;
		if ((r = msg_assemble_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster) && m.n <= MSG_MAX_LAYERS);
		for (uint32_t i = 0; i < m.n; i++)
			assert(digest_ref_valid(m.digests[i]));
		msg_assemble_release(&m);
		return;
	}
	case MSG_EXEC: {
		struct msg_exec m;
		if ((r = msg_exec_decode(p, n, &m, &err)) < 0)
			break;
		assert(*m.command && msg_cwd_valid(m.cwd) && m.timeout_s <= MSG_MAX_TIMEOUT_S);
		assert(!strstr(m.cwd, "/../") && (!*m.cwd || *m.cwd == '/'));
		check_env(m.env, m.nenv);
		msg_exec_release(&m);
		return;
	}
	case MSG_SETUP: {
		struct msg_setup m;
		if ((r = msg_setup_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster));
		check_env(m.env, m.nenv);
		msg_setup_release(&m);
		return;
	}
	case MSG_CONFIG: {
		struct msg_config m;
		struct errbuf why = ERRBUF_INIT;
		if ((r = msg_config_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster) && *m.doc.name && *m.doc.file);
		assert(strlen(m.doc.name) <= MSG_MAX_CONFIG_NAME);
		assert(strlen(m.doc.data) <= MSG_MAX_CONFIG_DATA);
		assert(config_path_check(m.doc.path, &why) == 0);
		assert(m.doc.strategy <= CONFIG_APPEND);
		msg_config_release(&m);
		return;
	}
	case MSG_REGISTRY_IMPORT: {
		struct msg_registry_import m;
		if ((r = msg_registry_import_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster) && msg_archive_name_valid(m.archive));
		assert(!strchr(m.archive, '/') && strcmp(m.archive, "..") != 0);
		assert(strlen(m.archive) <= MSG_MAX_ARCHIVE_NAME);
		msg_registry_import_release(&m);
		return;
	}
	case MSG_HOSTS: {
		struct msg_hosts m;
		if ((r = msg_hosts_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster) && m.n <= HOSTS_MAX_ENTRIES);
		for (uint32_t i = 0; i < m.n; i++)
			assert(hosts_ip_valid(m.entries[i].key) && hosts_name_valid(m.entries[i].value));
		assert(strchr(m.mirror, ':') && !strchr(m.mirror, '/') && m.mirror[0] != '.');
		assert(m.nup <= MSG_MAX_MIRRORS);
		for (uint32_t i = 0; i < m.nup; i++)
			assert(hosts_registry_valid(m.upstreams[i]) && !strchr(m.upstreams[i], '/'));
		assert((m.flags & ~PROTO_HOSTS_FORCE) == 0);
		msg_hosts_release(&m);
		return;
	}
	case MSG_KUBEADM_CONFIG: {
		struct msg_kubeadm_config m;
		if ((r = msg_kubeadm_config_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster) && msg_kubeadm_name_valid(m.name));
		assert(!strchr(m.name, '/') && strncmp(m.name, "kubeadm-", 8) == 0);
		assert(strlen(m.data) <= MSG_MAX_KUBEADM_CONFIG);
		for (const char *c = m.data; *c; c++)
			assert((unsigned char)*c >= 0x20 || *c == '\t' || *c == '\n' || *c == '\r');
		msg_kubeadm_config_release(&m);
		return;
	}
	case MSG_JOURNAL_READ:
	case MSG_JOURNAL_APPEND: {
		struct msg_journal m;
		struct errbuf why = ERRBUF_INIT;
		r = type == MSG_JOURNAL_READ ? msg_journal_read_decode(p, n, &m, &err)
					     : msg_journal_append_decode(p, n, &m, &err);
		if (r < 0)
			break;
		assert(cluster_name_valid(m.cluster));
		/* one record: it parses back, and holds no newline to smuggle in a second */
		assert(type == MSG_JOURNAL_READ ? !m.line : journal_line_check(m.line, &why) == 0);
		assert(!m.line || (!strchr(m.line, '\n') && strlen(m.line) <= JOURNAL_MAX_LINE));
		msg_journal_release(&m);
		return;
	}
	case MSG_REGISTRY_IMPORTED: {
		struct msg_registry_imported m;
		if ((r = msg_registry_imported_decode(p, n, &m, &err)) < 0)
			break;
		assert(strlen(m.detail) <= MSG_MAX_DETAIL && m.n <= MSG_MAX_REGISTRY_SOURCES);
		for (uint32_t i = 0; i < m.n; i++) {
			/* each names a certs.d directory: never a path */
			assert(hosts_registry_valid(m.sources[i]) && !strchr(m.sources[i], '/'));
			assert(m.sources[i][0] != '.');
			for (uint32_t k = 0; k < i; k++)
				assert(strcmp(m.sources[k], m.sources[i]) != 0);
		}
		msg_registry_imported_release(&m);
		return;
	}
	case MSG_LOCK: {
		struct msg_lock m;
		if ((r = msg_lock_decode(p, n, &m, &err)) < 0)
			break;
		assert(cluster_name_valid(m.cluster) && msg_lock_command_valid(m.command));
		/* the owner goes into ROOT/lock and into messages: one word, no path */
		assert(msg_lock_host_valid(m.owner) && !strchr(m.owner, '/') && !strchr(m.owner, ' '));
		assert(m.pid >= 1 && m.pid <= MSG_MAX_LOCK_PID && !(m.flags & ~PROTO_LOCK_FORCE));
		msg_lock_release(&m);
		return;
	}
	case MSG_FACTS_REQ:
	case MSG_LAYER_END:
	case MSG_BYE:
		r = msg_empty_decode(type, p, n, &err);
		assert(r == 0 ? n == 0 : n > 0);
		if (r == 0)
			return;
		break;
	default:
		return;
	}
	check_refusal(r, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > PROTO_MAX_FRAME)
		return 0;
	decode(data[0], data + 1, size - 1);
	return 0;
}
