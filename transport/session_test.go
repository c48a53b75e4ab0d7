package transport

import "testing"

func TestOneValueSession(t *testing.T) {
	s := newOneValueSession()
	if _, ok := s.Load("k"); ok || s.Len() != 0 {
		t.Fatal("a new session holds something")
	}
	s.Store("k", 1)
	if v, ok := s.Load("k"); !ok || v != 1 || s.Len() != 1 {
		t.Fatalf("Load after Store: %v %v", v, ok)
	}
	if _, ok := s.Load("other"); ok {
		t.Fatal("another key found a value")
	}
	seen := 0
	s.Range(func(k string, v any) bool { seen++; return true })
	if seen != 1 {
		t.Fatalf("Range saw %d values", seen)
	}
	s.Delete("other")
	if s.Len() != 1 {
		t.Fatal("deleting another key removed the value")
	}
	s.Delete("k")
	if _, ok := s.Load("k"); ok || s.Len() != 0 {
		t.Fatal("Delete kept the value")
	}
}
