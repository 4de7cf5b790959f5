"""Wire-level local emulators of cloud ML services.

Each emulator is a server on 127.0.0.1 that the *real* vendor SDK talks to over
HTTP, so provider tests exercise the same requests a cloud account would get.
``unifiedml.emulators.aws`` wraps moto's server and fills its SageMaker gaps.
Importing this package imports no emulator (moto is a dev dependency).
"""
