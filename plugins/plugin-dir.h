/* An image's own plugins: the Plugin documents of every *.yaml / *.yml file directly in
 * its plugins/ directory (sealer >= 0.7), then in plugin/ (sealer 0.6's name, loaded with a
 * warning), each in name order, read beneath the rootfs fd: a symlink may point only
 * inside the rootfs, and only regular files are read. */
#pragma once

#include "error.h"
#include "plugin.h"

#define PLUGIN_FILE_MAX (1u << 20)
#define PLUGIN_FILES_MAX 1000u

/* Appends the image's plugins to list (after the Clusterfile's, which come first). Any
 * file that does not parse, or holds a document that is not a valid Plugin, is an error
 * naming it by its path in the image. */
int plugin_load_image(int rootfd, struct plugin_list *list, struct errbuf *err);
