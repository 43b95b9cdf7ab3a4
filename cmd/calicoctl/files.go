package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// inputFile is one file named by -f, read whole.
type inputFile struct {
	// name is how messages refer to the file: its path, or "stdin".
	name string
	data []byte
}

// stdinName is the name messages give to resources read from "-f -".
const stdinName = "stdin"

// resourceExtensions are the files -f picks from a directory.
var resourceExtensions = []string{".yaml", ".yml", ".json"}

// readInputs expands the argument of -f as calicoctl does: "-" is standard
// input; a file is read whatever its name; a directory gives its .yaml,
// .yml and .json files in lexical order, and those of its subdirectories
// too when recursive is set. It is an error for the argument to be empty,
// not to exist, or to be a directory without such files.
func readInputs(stdin io.Reader, filename string, recursive bool) ([]inputFile, error) {
	if filename == "" {
		return nil, errors.New("no input: give -f FILE, -f DIRECTORY or -f - for standard input")
	}
	if filename == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return []inputFile{{name: stdinName, data: data}}, nil
	}
	st, err := os.Stat(filename)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file or directory %q does not exist", filename)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filename, err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(filename)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filename, err)
		}
		return []inputFile{{name: filename, data: data}}, nil
	}
	names, err := resourceFiles(filename, recursive)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		hint := ""
		if !recursive {
			hint = " (use -R to include subdirectories)"
		}
		return nil, fmt.Errorf("no .yaml, .yml or .json files in directory %s%s", filename, hint)
	}
	files := make([]inputFile, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", n, err)
		}
		files = append(files, inputFile{name: n, data: data})
	}
	return files, nil
}

// resourceFiles lists the resource files of dir, descending into
// subdirectories when recursive is set.
func resourceFiles(dir string, recursive bool) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read directory %s: %w", path, err)
		}
		if d.IsDir() {
			if path != dir && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(resourceExtensions, strings.ToLower(filepath.Ext(path))) {
			names = append(names, path)
		}
		return nil
	})
	return names, err
}
