/* The image verbs of the cirun CLI: build, images, inspect, save, load, tag, rmi, export,
 * prune.
 * Each parses its options, calls the modules, prints, and returns the exit code. */
#pragma once

int cmd_build(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_prune(int argc, char **argv);
