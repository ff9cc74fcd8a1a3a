from rest_framework import serializers

from engine.models import Engine


class EngineSerializer(serializers.ModelSerializer):
    """An Engine as the List Engines API answers it (``nxql.md``)."""

    databaseUID = serializers.CharField(source="database_uid")
    machineID = serializers.CharField(source="machine_id")

    class Meta:
        model = Engine
        fields = ["name", "description", "version", "timezone", "databaseUID", "machineID", "status", "address",
                  "port"]
