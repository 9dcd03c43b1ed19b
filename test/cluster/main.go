// Command kube is one multi-call binary holding the upstream Kubernetes control-plane components,
// so the test cluster needs a single Go build. Each component runs in a process of its own:
// several in one process would collide on component-base's global registries and flags.
//
//	kube etcd --data-dir DIR --listen-client-url URL --listen-peer-url URL
//	kube kube-apiserver|kube-controller-manager|kube-scheduler|kubectl [upstream flags...]
//	kube exec PROGRAM [args...]   (runs another program under the same parent-death guard)
//
// Invoked through a link named kubectl (or any component name), it runs that component.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth"           // kubectl's client auth plugins
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream registers them
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream registers it
	_ "time/tzdata"                                       // CronJob time zones
)

var components = map[string]func() int{
	"etcd":                    runEtcd,
	"kube-apiserver":          func() int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func() int { return cli.Run(controllermanager.NewControllerManagerCommand()) },
	"kube-scheduler":          func() int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kubectl":                 runKubectl,
	"exec":                    execProgram,
}

func main() {
	guardParentDeath()
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	if _, ok := components[name]; !ok {
		if len(os.Args) < 2 {
			usage()
		}
		name = os.Args[1]
		// Upstream commands read os.Args themselves (kubectl looks for plugins there), so they
		// must see the arguments as if they had been started under their own name.
		os.Args = append([]string{name}, os.Args[2:]...)
	}
	run, ok := components[name]
	if !ok {
		usage()
	}
	os.Exit(run())
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [flags...]; components: %s\n", strings.Join(names, ", "))
	os.Exit(2)
}

func runKubectl() int {
	// As upstream's main: verbosity is set before the command is built, so that klog output
	// during construction (plugins, .kuberc) follows -v.
	_, _ = logs.GlogSetter(cmd.GetLogVerbosity(os.Args))
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
	return 0
}
