// Package notificationtmpl renders the notification service's messages: one template set
// per event type and locale, embedded in the binary (templates/<set>/<locale>.txt for Go's
// text/template, defining "subject", "text" and "sms", and templates/<set>/<locale>.html
// for html/template, defining "html"). Every template is parsed when the service starts
// and executed with missingkey=error, so a broken template fails the start (and the
// tests that render every set with sample data), not a send.
package notificationtmpl

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"sort"
	"strings"
	texttemplate "text/template"

	"github.com/waybill/waybill/services/notification/notification"
)

//go:embed templates
var files embed.FS

// set is one template set in one locale.
type set struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Renderer renders messages from the embedded templates.
type Renderer struct {
	sets map[string]map[string]set // set name → locale → templates
}

// New parses every embedded template. It fails when one does not parse, when a locale has
// only one of its two files, or when a set lacks the default locale.
func New() (*Renderer, error) { return Parse(files, "templates") }

// Parse parses the template sets under root of fsys, as New does with the embedded ones.
func Parse(fsys fs.FS, root string) (*Renderer, error) {
	r := &Renderer{sets: map[string]map[string]set{}}
	dirs, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		entries, err := fs.ReadDir(fsys, path.Join(root, name))
		if err != nil {
			return nil, err
		}
		locales := map[string]set{}
		for _, e := range entries {
			locale, ext, ok := strings.Cut(e.Name(), ".")
			if !ok {
				return nil, fmt.Errorf("template %s/%s: want <locale>.txt or <locale>.html", name, e.Name())
			}
			src, err := fs.ReadFile(fsys, path.Join(root, name, e.Name()))
			if err != nil {
				return nil, err
			}
			s := locales[locale]
			switch ext {
			case "txt":
				s.text, err = texttemplate.New(name).Option("missingkey=error").Parse(string(src))
			case "html":
				s.html, err = htmltemplate.New(name).Option("missingkey=error").Parse(string(src))
			default:
				err = fmt.Errorf("unknown extension %q", ext)
			}
			if err != nil {
				return nil, fmt.Errorf("template %s/%s: %w", name, e.Name(), err)
			}
			locales[locale] = s
		}
		for locale, s := range locales {
			if s.text == nil || s.html == nil {
				return nil, fmt.Errorf("template %s/%s: needs both %[2]s.txt and %[2]s.html", name, locale)
			}
			for _, def := range []string{"subject", "text", "sms"} {
				if s.text.Lookup(def) == nil {
					return nil, fmt.Errorf("template %s/%s.txt does not define %q", name, locale, def)
				}
			}
			if s.html.Lookup("html") == nil {
				return nil, fmt.Errorf("template %s/%s.html does not define \"html\"", name, locale)
			}
		}
		if _, ok := locales[notification.DefaultLocale]; !ok {
			return nil, fmt.Errorf("template set %s has no %q locale", name, notification.DefaultLocale)
		}
		r.sets[name] = locales
	}
	return r, nil
}

// Sets returns the names of the template sets, sorted.
func (r *Renderer) Sets() []string {
	out := make([]string, 0, len(r.sets))
	for n := range r.sets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Locales returns the locales of a set, sorted.
func (r *Renderer) Locales(name string) []string {
	var out []string
	for l := range r.sets[name] {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Has reports whether a set exists.
func (r *Renderer) Has(name string) bool { return r.sets[name] != nil }

// Render renders set name for d with data: for email the subject, text and HTML parts,
// for SMS the short text.
func (r *Renderer) Render(name string, d notification.Destination, data map[string]any) (notification.Rendered, error) {
	locales := r.sets[name]
	if locales == nil {
		return notification.Rendered{}, fmt.Errorf("no template set %q", name)
	}
	locale := d.Locale
	s, ok := locales[locale]
	if !ok {
		lang, _, _ := strings.Cut(locale, "-")
		if s, ok = locales[lang]; ok {
			locale = lang
		} else {
			locale, s = notification.DefaultLocale, locales[notification.DefaultLocale]
		}
	}
	name2 := d.Name
	if name2 == "" {
		name2 = "there"
	}
	in := struct {
		Name string
		Data map[string]any
	}{name2, data}
	out := notification.Rendered{Locale: locale}
	var err error
	if d.Channel == notification.SMS {
		out.Text, err = execText(s.text, "sms", in)
		return out, err
	}
	if out.Subject, err = execText(s.text, "subject", in); err != nil {
		return out, err
	}
	if out.Text, err = execText(s.text, "text", in); err != nil {
		return out, err
	}
	var b bytes.Buffer
	if err := s.html.ExecuteTemplate(&b, "html", in); err != nil {
		return out, fmt.Errorf("render %s/%s html: %w", name, locale, err)
	}
	out.HTML = strings.TrimSpace(b.String())
	return out, nil
}

func execText(t *texttemplate.Template, def string, in any) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, def, in); err != nil {
		return "", fmt.Errorf("render %s %s: %w", t.Name(), def, err)
	}
	return strings.TrimSpace(b.String()), nil
}
