package standalone

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// outside are references to places outside the repository. Each is written
// in two pieces so that this file does not match itself.
var outside = []string{
	".." + "/shared",       // the team's directory beside the repository
	"/" + "work/",          // the team machine's checkout root
	"/" + "home/",          // someone's home directory
	"/" + "root/",          // root's home directory
	"/" + "Users/",         // a macOS home directory
	"LIFELINE_" + "SHARED", // the old variable pointing at the shared directory
}

// mdLink finds the target of a Markdown link or image: ](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to list the repository's files: %v", err)
	}
	cmd := exec.Command(git, "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files in %s (is it a git checkout?): %v", root, err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	if len(files) < 50 {
		t.Fatalf("git ls-files lists %d files: not the repository", len(files))
	}
	return files
}

// TestNothingOutside fails on any tracked text file that names a path
// outside the repository.
func TestNothingOutside(t *testing.T) {
	root := testenv.Root(t)
	self := "internal/standalone/standalone_test.go"
	checked := 0
	for _, f := range trackedFiles(t, root) {
		if f == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary: captures, images
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			for _, p := range outside {
				if strings.Contains(line, p) {
					t.Errorf("%s:%d refers outside the repository (%q): %s", f, i+1, p, strings.TrimSpace(line))
				}
			}
		}
	}
	t.Logf("%d text files checked", checked)
}

// TestMarkdownLinks fails on a relative link of a tracked Markdown file
// that leaves the repository or leads to no tracked file.
func TestMarkdownLinks(t *testing.T) {
	root := testenv.Root(t)
	files := trackedFiles(t, root)
	tracked := map[string]bool{}
	for _, f := range files {
		tracked[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			tracked[d] = true
		}
	}
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			p := path.Clean(path.Join(path.Dir(f), target))
			if strings.HasPrefix(target, "/") || p == ".." || strings.HasPrefix(p, "../") {
				t.Errorf("%s: link %q leaves the repository", f, m[1])
				continue
			}
			if !tracked[p] {
				t.Errorf("%s: link %q leads to %s, which the repository does not hold", f, m[1], p)
			}
		}
	}
}
