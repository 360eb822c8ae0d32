package gateway

import "fmt"

// DeckError is a problem in the declarative config, located by file, line
// and the entity's path in the document (services[0].routes[1].plugins[0]).
type DeckError struct {
	Source string // file name, "" when parsed from memory
	Line   int    // 1-based, 0 if unknown
	Where  string // path of the entity, "" for the document itself
	Msg    string
}

func (e *DeckError) Error() string {
	s := ""
	if e.Source != "" {
		s = e.Source + ":"
	}
	if e.Line > 0 {
		s += fmt.Sprintf("%d:", e.Line)
	}
	if s != "" {
		s += " "
	}
	if e.Where != "" {
		s += e.Where + ": "
	}
	return s + e.Msg
}
