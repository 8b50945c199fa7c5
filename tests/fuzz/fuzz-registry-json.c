/* The JSON an image archive carries (docker-archive manifest.json, OCI index.json, image
 * manifests): any input decodes or fails with a message, and what decodes is within the
 * rules the importer relies on (valid digests, bounded media types, names present). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "digest.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const struct registry_desc_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		assert(digest_ref_valid(l->v[i].digest));
		assert(l->v[i].media_type[0]);
		assert(strlen(l->v[i].media_type) < sizeof(l->v[i].media_type));
		assert(!l->v[i].name || l->v[i].name[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf err = ERRBUF_INIT;
	struct registry_docker_manifest dm;
	struct registry_desc_list l;
	struct registry_desc config;

	if (registry_parse_docker_manifest("fuzz", data, size, &dm, &err) == 0) {
		assert(dm.n > 0);
		for (size_t i = 0; i < dm.n; i++) {
			assert(dm.images[i].config && dm.images[i].config[0]);
			for (size_t j = 0; j < dm.images[i].n_layers; j++)
				assert(dm.images[i].layers[j][0]);
		}
		registry_docker_manifest_release(&dm);
	} else {
		assert(err.code < 0 && err.msg[0]);
	}
	errbuf_clear(&err);
	if (registry_parse_index("fuzz", data, size, &l, &err) == 0) {
		check_list(&l);
		registry_desc_list_release(&l);
	} else {
		assert(err.code < 0 && err.msg[0]);
	}
	errbuf_clear(&err);
	if (registry_parse_manifest("fuzz", data, size, &config, &l, &err) == 0) {
		assert(digest_ref_valid(config.digest));
		check_list(&l);
		registry_desc_list_release(&l);
	} else {
		assert(err.code < 0 && err.msg[0]);
	}
	return 0;
}
