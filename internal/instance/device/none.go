package device

// none is a device that masks a profile's device of the same name.
type none struct{}

func (none) Keys() []string                       { return nil }
func (none) Validate(name string, d Config) error { return nil }
func (none) Resolve(*Env, Instance, string, Config) (Device, error) {
	return nil, nil
}
