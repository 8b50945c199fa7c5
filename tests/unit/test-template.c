#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "macro.h"
#include "template.h"

static char k1[] = "Name", v1[] = "demo", k2[] = "Ips", v2[] = "10.0.0.1;10.0.0.2", k3[] = "Empty",
	    v3[] = "", k4[] = "Port", v4[] = "6443";
static const struct kv vars[] = { { k1, v1 }, { k2, v2 }, { k3, v3 }, { k4, v4 } };

static void expect(const char *tmpl, const char *want)
{
	struct buf out = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;

	if (template_render("t.tmpl", tmpl, strlen(tmpl), vars, ELEMENTSOF(vars), &out, &err) < 0)
		fail_msg("'%s' failed: %s", tmpl, errbuf_msg(&err));
	assert_string_equal(out.data, want);
	buf_release(&out);
}

static void expect_error(const char *tmpl, unsigned line, const char *fragment)
{
	struct buf out = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;
	char prefix[32];

	buf_puts(&out, "kept");
	assert_int_equal(template_render("t.tmpl", tmpl, strlen(tmpl), vars, ELEMENTSOF(vars), &out, &err),
			 -EINVAL);
	assert_string_equal(out.data, "kept"); /* nothing half-rendered */
	snprintf(prefix, sizeof(prefix), "t.tmpl:%u: ", line);
	if (strncmp(errbuf_msg(&err), prefix, strlen(prefix)) || !strstr(errbuf_msg(&err), fragment))
		fail_msg("'%s' does not start with '%s' or lacks '%s'", errbuf_msg(&err), prefix, fragment);
	buf_release(&out);
}

static void test_values(void **state)
{
	(void)state;
	expect("plain text\n", "plain text\n");
	expect("name: {{ .Name }}\nport: {{.Port}}\n", "name: demo\nport: 6443\n");
	expect("{{ .Ips }}", "10.0.0.1;10.0.0.2");
	expect("{{ .Missing | default \"x\" }} {{ .Empty | default \"e\" }} {{ .Name | default \"n\" }}", "x e demo");
	expect("{{ .Missing | default \"\" }}|", "|");
	expect("a {{/* a comment */}} b", "a  b");
	expect("", "");
}

static void test_trim(void **state)
{
	(void)state;
	expect("a  \n  {{- .Name -}}  \n  b", "ademob");
	expect("a {{- .Name }} b", "ademo b");
}

static void test_if_range(void **state)
{
	(void)state;
	expect("{{ if .Name }}yes{{ else }}no{{ end }}", "yes");
	expect("{{ if .Empty }}yes{{ else }}no{{ end }}", "no");
	expect("{{ if .Missing }}yes{{ end }}.", ".");
	expect("{{ range .Ips }}- {{ . }}\n{{ end }}", "- 10.0.0.1\n- 10.0.0.2\n");
	expect("{{ range .Name }}[{{ . }}]{{ end }}", "[demo]");
	expect("{{ range .Empty }}[{{ . }}]{{ end }}.", ".");
	expect("{{ if .Name }}{{ range .Ips }}{{ if . }}<{{ . }}>{{ end }}{{ end }}{{ end }}",
	       "<10.0.0.1><10.0.0.2>");
	/* output of a missing key inside a branch not taken is not an error */
	expect("{{ if .Missing }}{{ .AlsoMissing }}{{ end }}ok", "ok");
	expect("servers:\n{{- range .Ips }}\n  - {{ . }}\n{{- end }}\n", "servers:\n  - 10.0.0.1\n  - 10.0.0.2\n");
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("a\nb {{ .Missing }}", 2, "key 'Missing' is not set");
	expect_error("x\n\n{{ template \"a\" }}", 3, "unsupported template construct 'template \"a\"'");
	expect_error("{{ .A.B }}", 1, "nested keys");
	expect_error("{{ .Name | upper }}", 1, "only '| default");
	expect_error("{{ if .Name }}open", 1, "without {{ end }}");
	expect_error("{{ range .Ips }}open", 1, "without {{ end }}");
	expect_error("x {{ end }}", 1, "without a matching");
	expect_error("a\n{{ .Name", 2, "'{{' without '}}'");
	expect_error("{{ }}", 1, "empty action");
	expect_error("{{ . }}", 1, "outside a range");
	expect_error("{{ range .Missing }}{{ end }}", 1, "cannot be ranged over");
	expect_error("{{ .Name | default x }}", 1, "quoted");
}

/* What real images carry: containerd's CNI conf_template is a Go template for containerd,
 * not for cirun. The error quotes the whole action and says how to keep such a file. */
static void test_unsupported_names_construct(void **state)
{
	static const char cni[] =
		"{\n"
		"  \"ranges\": [\n"
		"{{- range $i, $r := .PodCIDRRanges}}\n"
		"{{- if $i }},{{end}}\n"
		"    [{ \"subnet\": \"{{$r}}\" }]\n"
		"{{- end}}\n"
		"  ]\n"
		"}\n";
	(void)state;
	expect_error(cni, 3, "unsupported template construct 'range $i, $r := .PodCIDRRanges'");
	expect_error(cni, 3, "name it without .tmpl");
	expect_error(cni, 3, "conf_template");
	expect_error("a\n{{ if eq .Name \"x\" }}y{{ end }}", 2,
		     "unsupported template construct 'if eq .Name \"x\"'");
	expect_error("{{ $x := .Name }}", 1, "unsupported template construct '$x := .Name'");
	expect_error("{{ with .Name }}{{ . }}{{ end }}", 1, "unsupported template construct 'with .Name'");
	expect_error("{{ printf \"%s\" .Name }}", 1, "unsupported template construct 'printf \"%s\" .Name'");
	expect_error("{{ .Name | upper }}", 1, "unsupported template construct '.Name | upper'");
	/* a long action is cut, never the message */
	expect_error("{{ range $index, $element := .AVeryLongKeyNameThatGoesOnAndOnAndOnForever }}{{ end }}",
		     1, "'range $index, $element := .AVeryLongKeyNameThatGoesOnAndOnAn...'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_if_range),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unsupported_names_construct),
	};
	return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
