/* The host lock's record (agent/host-lock.h), read from ROOT/lock on a host where anyone
 * with root may have written anything: a parse either refuses with a reason or gives
 * fields that keep the rules, and what it gives formats back to a record that parses to
 * the same fields. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "host-lock.h"
#include "name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_lock_owner o, back;
	struct errbuf err = ERRBUF_INIT;
	char rec[HOST_LOCK_MAX];
	int n, r = host_lock_record_parse((const char *)data, size, &o, &err);

	if (r < 0) {
		assert(r == -EBADMSG || r == -E2BIG);
		assert(err.code == r && err.msg[0]);
		return 0;
	}
	assert(size <= HOST_LOCK_MAX);
	/* printed in refusals and in the host's journal: one word each, no path */
	assert(msg_lock_host_valid(o.host) && !strchr(o.host, '/'));
	assert(cluster_name_valid(o.cluster) && msg_lock_command_valid(o.command));
	assert(o.pid >= 1 && o.pid <= MSG_MAX_LOCK_PID);
	assert(o.agent_pid >= 1 && o.agent_pid <= MSG_MAX_LOCK_PID);
	assert(o.since > 0 && o.since <= o.expires);
	n = host_lock_record_format(&o, rec, sizeof(rec));
	assert(n > 0);
	assert(host_lock_record_parse(rec, (size_t)n, &back, &err) == 0);
	assert(memcmp(&o, &back, sizeof(o)) == 0);
	return 0;
}
