package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// cluster is what the nodes of one cluster share, in a folder every node process of it is given: etcd's
// membership (one etcd cluster, bootstrapped once) and what trustd hands a worker (its machine certificate).
type cluster struct {
	dir string
}

// etcdState is the simulated etcd cluster.
type etcdState struct {
	// Bootstrapped is set by the one Bootstrap etcd accepts; BootstrapNode is the controller it ran on.
	Bootstrapped  bool         `json:"bootstrapped"`
	BootstrapNode string       `json:"bootstrapNode,omitempty"`
	Members       []etcdMember `json:"members"`
	NextID        uint64       `json:"nextID"`
	// Endpoint is the client URL of the Kubernetes judge's etcd on BootstrapNode, once it answers.
	Endpoint string `json:"endpoint,omitempty"`
}

type etcdMember struct {
	ID       uint64 `json:"id"`
	Hostname string `json:"hostname"`
	Address  string `json:"address"`
}

func (c *cluster) init() error {
	return os.MkdirAll(filepath.Join(c.dir, "trustd"), 0o700)
}

// update runs fn on etcd's state under an exclusive lock shared by every node process of the cluster, and
// stores what fn left unless it failed.
func (c *cluster) update(fn func(*etcdState) error) error {
	lock, err := os.OpenFile(filepath.Join(c.dir, "etcd.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close() //nolint:errcheck

	if err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck

	state, err := c.load()
	if err != nil {
		return err
	}

	if err = fn(&state); err != nil {
		return err
	}

	data, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}

	return writeFileAtomic(filepath.Join(c.dir, "etcd.json"), data)
}

func (c *cluster) etcd() (etcdState, error) {
	var state etcdState

	err := c.update(func(s *etcdState) error { state = *s; return nil })

	return state, err
}

func (c *cluster) load() (etcdState, error) {
	state := etcdState{Members: []etcdMember{}, NextID: 0x1a2b3c4d00000001}

	data, err := os.ReadFile(filepath.Join(c.dir, "etcd.json"))
	if errors.Is(err, os.ErrNotExist) {
		return state, nil
	}

	if err != nil {
		return state, err
	}

	if err = json.Unmarshal(data, &state); err != nil {
		return state, fmt.Errorf("etcd.json: %w", err)
	}

	return state, nil
}

func (s *etcdState) member(address string) (etcdMember, bool) {
	for _, m := range s.Members {
		if m.Address == address {
			return m, true
		}
	}

	return etcdMember{}, false
}

func (s *etcdState) join(address string) etcdMember {
	if m, ok := s.member(address); ok {
		return m
	}

	m := etcdMember{ID: s.NextID, Hostname: address, Address: address}
	s.NextID++
	s.Members = append(s.Members, m)

	return m
}

func (s *etcdState) remove(address string) bool {
	for i, m := range s.Members {
		if m.Address == address {
			s.Members = append(s.Members[:i], s.Members[i+1:]...)

			return true
		}
	}

	return false
}

// publishMachineCA is a controller making its machine CA available to trustd, which signs the workers'
// certificates with it (a worker's configuration holds the CA certificate only).
func (c *cluster) publishMachineCA(crt, key []byte) error {
	return writeFileAtomic(filepath.Join(c.dir, "trustd", fingerprint(crt)+".key"), key)
}

// machineCAKey is trustd's key of the machine CA whose certificate is crt.
func (c *cluster) machineCAKey(crt []byte) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.dir, "trustd", fingerprint(crt)+".key"))
}
