/* Image config, manifest and index parsers (they read what `cirun load` takes from any archive):
 * any input parses or fails with a message; a parsed config encodes again and decodes to
 * the same encoding. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "image-meta.h"
#include "image-store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_meta m, again;
	struct manifest man;
	struct errbuf err = ERRBUF_INIT;
	struct buf a = BUF_INIT(64u << 20), b = BUF_INIT(64u << 20);

	struct image_ref *refs = NULL;
	size_t nrefs = 0;
	if (image_index_decode("fuzz", (const char *)data, size, true, &refs, &nrefs, &err) == 0)
		image_refs_free(refs, nrefs);
	if (manifest_parse((const char *)data, size, &man, &err) == 0)
		manifest_release(&man);
	else
		assert(err.msg[0]);
	if (image_meta_from_config((const char *)data, size, &m, &err) < 0) {
		assert(err.msg[0]);
		return 0;
	}
	for (size_t i = 0; i < m.nlayers; i++)
		if (m.layers[i].digest && !m.layers[i].media_type)
			m.layers[i].media_type = strdup(MEDIA_LAYER_ZSTD);
	if (!m.created)
		m.created = strdup("x");
	if (!m.arch)
		m.arch = strdup("amd64");
	if (!m.os)
		m.os = strdup("linux");
	assert(image_meta_to_config(&m, &a) == 0);
	assert(image_meta_from_config(a.data, a.len, &again, &err) == 0);
	assert(image_meta_to_config(&again, &b) == 0);
	assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	image_meta_release(&again);
	image_meta_release(&m);
	buf_release(&a);
	buf_release(&b);
	return 0;
}
