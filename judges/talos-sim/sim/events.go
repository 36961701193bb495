package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// events is the node's event log, what `talosctl upgrade --wait` and `reset --wait` follow (Events): sequence,
// task and machine status events, each with its actor (the id an Upgrade or Reset answered). Kept in memory: a
// simulated reboot keeps the process, so a client's tail id is still known after it.
type events struct {
	mu      sync.Mutex
	log     []*machine.Event
	next    int
	changed chan struct{}
	// generation changes at every reboot: streams of the old boot end, as their connections would.
	generation int
}

// actionDelay is how long an upgrade, reboot or reset takes to begin after it is acknowledged: a client
// watches the events from the moment it asks (talosctl opens the stream beside the call).
const actionDelay = time.Second

func newEvents() *events { return &events{changed: make(chan struct{})} }

func (e *events) publish(address, actor string, payload proto.Message) {
	data, err := anypb.New(payload)
	if err != nil {
		return
	}

	// Talos' type URLs: talos/runtime/<full name>.
	data.TypeUrl = "talos/runtime/" + string(payload.ProtoReflect().Descriptor().FullName())

	e.mu.Lock()
	defer e.mu.Unlock()

	e.next++
	e.log = append(e.log, &machine.Event{
		Metadata: &common.Metadata{Hostname: address},
		Data:     data,
		Id:       fmt.Sprintf("%020d", e.next),
		ActorId:  actor,
	})

	close(e.changed)
	e.changed = make(chan struct{})
}

// rebooted ends the streams of the boot that ends.
func (e *events) rebooted() {
	e.mu.Lock()
	defer e.mu.Unlock()

	e.generation++
	close(e.changed)
	e.changed = make(chan struct{})
}

// from is the index of the first event a request asks for: after TailId, the last TailEvents (-1: all), or
// only new ones.
func (e *events) from(in *machine.EventsRequest) int {
	switch {
	case in.GetTailId() != "":
		for i, ev := range e.log {
			if ev.Id == in.GetTailId() {
				return i + 1
			}
		}

		return 0
	case in.GetTailEvents() < 0:
		return 0
	default:
		return max(0, len(e.log)-int(in.GetTailEvents()))
	}
}

func (s *machineService) Events(in *machine.EventsRequest, out machine.MachineService_EventsServer) error {
	e := s.node.events

	e.mu.Lock()
	next := e.from(in)
	generation := e.generation
	e.mu.Unlock()

	for {
		e.mu.Lock()
		pending := e.log[next:]
		next = len(e.log)
		changed := e.changed
		ended := e.generation != generation
		e.mu.Unlock()

		for _, ev := range pending {
			if in.GetWithActorId() != "" && ev.ActorId != in.GetWithActorId() {
				continue
			}

			if err := out.Send(ev); err != nil {
				return err
			}
		}

		if ended {
			return status.Error(codes.Unavailable, "the node is rebooting")
		}

		select {
		case <-changed:
		case <-out.Context().Done():
			return out.Context().Err()
		}
	}
}

// Read serves the one file clients read from a node here: the boot id, which changes at every boot.
func (s *machineService) Read(in *machine.ReadRequest, out machine.MachineService_ReadServer) error {
	if in.GetPath() != "/proc/sys/kernel/random/boot_id" {
		return status.Errorf(codes.Unimplemented, "the simulator reads /proc/sys/kernel/random/boot_id only, not %s", in.GetPath())
	}

	s.node.mu.Lock()
	bootID := s.node.state.BootID
	s.node.mu.Unlock()

	return out.Send(&common.Data{Metadata: s.meta(), Bytes: []byte(bootID + "\n")})
}

// Upgrade records the installer image and reboots into it: the version becomes the image's tag after the
// simulated reboot, and the node reports itself running and ready again (the events `talosctl upgrade --wait`
// waits for, with a new boot id).
func (s *machineService) Upgrade(_ context.Context, in *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	n := s.node

	image := in.GetImage()

	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	if !ok || !strings.HasPrefix(tag, "v") {
		return nil, status.Errorf(codes.InvalidArgument, "the installer image %q has no version tag", image)
	}

	if in.GetStage() {
		return nil, status.Error(codes.Unimplemented, "staged upgrades are not simulated")
	}

	actor := newID()

	go n.upgrade(actor, image, tag)

	return &machine.UpgradeResponse{Messages: []*machine.Upgrade{{Metadata: s.meta(), Ack: "Upgrade request received", ActorId: actor}}}, nil
}

func (n *node) upgrade(actor, image, tag string) {
	time.Sleep(actionDelay)
	n.events.publish(n.opts.address, actor, &machine.SequenceEvent{Sequence: "upgrade", Action: machine.SequenceEvent_START})
	n.events.publish(n.opts.address, actor, &machine.TaskEvent{Task: "upgrade", Action: machine.TaskEvent_START})

	n.mu.Lock()
	n.state.Image = image
	n.state.Upgrades = append(n.state.Upgrades, image)
	n.state.Version = tag
	_ = n.save() //nolint:errcheck
	n.mu.Unlock()

	logf(n, "upgrading to %s", image)

	n.events.publish(n.opts.address, actor, &machine.TaskEvent{Task: "upgrade", Action: machine.TaskEvent_STOP})
	n.events.publish(n.opts.address, actor, &machine.SequenceEvent{Sequence: "upgrade", Action: machine.SequenceEvent_STOP})
	n.events.publish(n.opts.address, actor, &machine.SequenceEvent{Sequence: "reboot", Action: machine.SequenceEvent_START})
	n.rebootAndReport()
}

// rebootAndReport reboots the node, then reports it running and ready.
func (n *node) rebootAndReport() {
	time.Sleep(200 * time.Millisecond) // let the clients see the reboot begin

	n.reboot()
	n.events.rebooted()

	time.Sleep(n.opts.rebootDelay)
	n.events.publish(n.opts.address, "", &machine.MachineStatusEvent{
		Stage:  machine.MachineStatusEvent_RUNNING,
		Status: &machine.MachineStatusEvent_MachineStatus{Ready: true},
	})
	logf(n, "rebooted")
}

// Reboot reboots the node (as `talosctl reboot` asks).
func (s *machineService) Reboot(context.Context, *machine.RebootRequest) (*machine.RebootResponse, error) {
	n := s.node
	actor := newID()

	go func() {
		time.Sleep(actionDelay)
		n.events.publish(n.opts.address, actor, &machine.SequenceEvent{Sequence: "reboot", Action: machine.SequenceEvent_START})
		n.rebootAndReport()
	}()

	return &machine.RebootResponse{Messages: []*machine.Reboot{{Metadata: s.meta(), ActorId: actor}}}, nil
}

// Reset wipes the node's system partitions: all of them, or those system_partitions_to_wipe names (STATE: the
// configuration, back to maintenance mode at the next boot; EPHEMERAL: etcd's data, see wipeEphemeral);
// gracefully, a controller first leaves etcd. Without a reboot the node powers off: it answers nothing until its
// process starts again.
func (s *machineService) Reset(_ context.Context, in *machine.ResetRequest) (*machine.ResetResponse, error) {
	n := s.node
	actor := newID()

	wipeState, wipeEphemeral := true, true

	if labels := in.GetSystemPartitionsToWipe(); len(labels) > 0 {
		wipeState, wipeEphemeral = false, false

		for _, p := range labels {
			switch {
			case !p.GetWipe():
			case p.GetLabel() == "STATE":
				wipeState = true
			case p.GetLabel() == "EPHEMERAL":
				wipeEphemeral = true
			default:
				return nil, status.Errorf(codes.Unimplemented, "wiping %s is not simulated (STATE and EPHEMERAL are)", p.GetLabel())
			}
		}
	}

	if in.GetGraceful() && n.isController() {
		etcd, err := n.cluster.etcd()
		if err != nil {
			return nil, err
		}

		if _, member := etcd.member(n.opts.address); member {
			if len(etcd.Members) == 1 {
				return nil, status.Error(codes.FailedPrecondition, "this is the last etcd member: a graceful reset would lose the cluster (use --graceful=false)")
			}

			if err = n.leaveEtcd(); err != nil {
				return nil, err
			}
		}
	}

	go func() {
		time.Sleep(actionDelay)
		n.events.publish(n.opts.address, actor, &machine.SequenceEvent{Sequence: "reset", Action: machine.SequenceEvent_START})

		if in.GetGraceful() && n.isController() {
			n.events.publish(n.opts.address, actor, &machine.TaskEvent{Task: "leaveEtcd", Action: machine.TaskEvent_STOP})
		}

		n.events.publish(n.opts.address, actor, &machine.TaskEvent{Task: "stopAllServices", Action: machine.TaskEvent_START})
		time.Sleep(200 * time.Millisecond)

		if wipeState {
			n.wipeState()
		}

		if wipeEphemeral {
			n.wipeEphemeral()
		}

		if in.GetReboot() {
			n.rebootAndReport()
		} else {
			n.powerOff()
		}
	}()

	return &machine.ResetResponse{Messages: []*machine.Reset{{Metadata: s.meta(), ActorId: actor}}}, nil
}
