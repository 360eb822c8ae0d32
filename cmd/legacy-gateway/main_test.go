package main

import (
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		config  string
		demo    bool
		wantErr bool
	}{
		{"defaults", nil, "kong/kong.yml", false, false},
		{"demo uses the demo config", []string{"-demo"}, demoConfig, true, false},
		{"demo keeps an explicit config", []string{"-demo", "-config", "x.yml"}, "x.yml", true, false},
		{"explicit default is kept with demo", []string{"-config", "kong/kong.yml", "-demo"}, "kong/kong.yml", true, false},
		{"demo with the Rails app", []string{"-demo", "-demo-rails", "examples/rails/run-demo"}, demoConfig, true, false},
		{"demo-rails without demo", []string{"-demo-rails", "examples/rails/run-demo"}, "", false, true},
		{"stray argument", []string{"kong.yml"}, "", false, true},
		{"unknown flag", []string{"-nope"}, "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseFlags(tc.args)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.config != tc.config || f.demo != tc.demo {
				t.Errorf("config %q demo %v, want %q %v", f.config, f.demo, tc.config, tc.demo)
			}
			if f.listen != "127.0.0.1:8000" || f.plugin != "./bin/legacy-auth" {
				t.Errorf("listen %q plugin %q", f.listen, f.plugin)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	t.Parallel()
	if got := splitList(" a:1, ,b:2 ,"); !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Errorf("splitList = %v", got)
	}
}
