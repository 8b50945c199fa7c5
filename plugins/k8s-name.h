/* Kubernetes' own syntax rules for what plugins hand to kubectl and kubeadm (as its API
 * server validates them), so a bad label or host name fails at validation with the rule
 * it breaks, not half-way through a run. Each check returns NULL when s is valid, else a
 * short reason for the message. */
#pragma once

/* A label or taint key: [PREFIX/]NAME, PREFIX a DNS subdomain (<= 253), NAME 1-63 of
 * [A-Za-z0-9-_.] starting and ending alphanumeric. */
const char *k8s_qualified_name_invalid(const char *s);

/* A label or taint value: empty, or up to 63 of [A-Za-z0-9-_.] starting and ending
 * alphanumeric. */
const char *k8s_label_value_invalid(const char *s);

/* A DNS-1123 subdomain: lower-case labels of [a-z0-9-] (1-63, alphanumeric at both ends)
 * joined by '.', at most max_len in all. */
const char *k8s_dns_subdomain_invalid(const char *s, unsigned max_len);
