/* A name=value pair: ARGs, build args, environment variables. */
#pragma once

struct kv {
	char *key;
	char *value;
};
